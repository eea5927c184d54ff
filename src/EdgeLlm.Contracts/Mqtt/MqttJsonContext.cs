using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Mqtt;

/// <summary>
/// Source-generated JSON for every MQTT payload: snake_case names, nulls omitted where the contract says so,
/// no reflection (trimming- and AOT-safe on the device).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(AskRequest))]
[JsonSerializable(typeof(CancelRequest))]
[JsonSerializable(typeof(ReplyMessage))]
[JsonSerializable(typeof(ChunkMessage))]
[JsonSerializable(typeof(AnswerMessage))]
[JsonSerializable(typeof(ErrorMessage))]
[JsonSerializable(typeof(StatusMessage))]
[JsonSerializable(typeof(AlertMessage))]
[JsonSerializable(typeof(SensorQueryRequest))]
[JsonSerializable(typeof(SensorReadingMessage))]
public sealed partial class MqttJsonContext : JsonSerializerContext;
