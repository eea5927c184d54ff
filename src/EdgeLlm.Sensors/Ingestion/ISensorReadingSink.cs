namespace EdgeLlm.Sensors.Ingestion;

/// <summary>
/// Where sources hand their readings. The sink validates each one (known sensor, finite, plausible timestamp,
/// matching unit) and passes it on to the store and the alert rules; a refused reading is counted and logged and
/// never stops the source. Safe to call from any thread.
/// </summary>
public interface ISensorReadingSink
{
    /// <summary>Offers one reading; false when it was rejected.</summary>
    /// <param name="sensorId">The sensor's id.</param>
    /// <param name="timestamp">When the value was measured.</param>
    /// <param name="value">The value, already in the sensor's unit.</param>
    /// <param name="unit">The unit the reading claims, when it carries one; null = the sensor's unit.</param>
    bool Submit(string sensorId, DateTimeOffset timestamp, double value, string? unit = null);

    /// <summary>Records a reading a source could not produce (missing file, garbage content, bad payload).</summary>
    void Reject(string sensorId, RejectReason reason, string detail);
}
