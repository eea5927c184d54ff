// Provisioning is Linux only: dpkg, systemd, Unix file modes.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
