using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeLlm.Contracts.Bundles;

/// <summary>
/// Source-generated JSON for bundle manifests and signatures: snake_case, strict (unknown or duplicate properties, missing
/// required ones, comments, trailing commas and numbers in strings are all refused), indented so a manifest reads well.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(BundleManifest))]
[JsonSerializable(typeof(BundleSignature))]
[JsonSerializable(typeof(BundleSmokeTest))]
public sealed partial class BundleJsonContext : JsonSerializerContext;
