namespace EdgeLlm.Sensors.Ingestion;

/// <summary>A sensor the device samples itself (sysfs file, GPIO line) every <see cref="SensorDefinition.Period"/>.</summary>
internal interface IPolledSensor
{
    string Id { get; }

    /// <summary>Reads the current value; on failure says why without throwing (the source keeps running).</summary>
    bool TryRead(out double value, out RejectReason reason, out string detail);
}
