#!/usr/bin/env python3
"""Prints each failed test of the given TRX files on one line: its name and the start of its message."""
import os
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}

for path in sys.argv[1:]:
    if not os.path.exists(path):
        continue  # no TRX at all: the shell passed its pattern through
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        print(f"failed: {path} is unreadable: {error}")
        continue
    for result in root.iterfind(".//t:UnitTestResult[@outcome='Failed']", NS):
        lines = (result.findtext("t:Output/t:ErrorInfo/t:Message", "", NS) or "").strip().splitlines()
        print(f"failed: {result.get('testName')}: {' '.join(line.strip() for line in lines[:3])[:400]}")
