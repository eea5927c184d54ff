using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using EdgeLlm.Sensors.Storage;

namespace EdgeLlm.Agent.Sensors;

/// <summary>Source-generated snake_case JSON of the sensor replies, matching <c>edgellm sensors query --json</c>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SensorQueryResult))]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class SensorJsonContext : JsonSerializerContext;
