using System.CommandLine;
using EdgeLlm.Contracts.Bundles;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm keys generate`: publisher keys for signing bundles.</summary>
internal static class KeysCommand
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static Command Build()
    {
        var keys = new Command("keys", "Publisher keys that sign bundles (ECDSA P-256).");
        keys.Add(BuildGenerate());
        return keys;
    }

    private static Command BuildGenerate()
    {
        var output = new Option<string>("--out") { Description = "Writes NAME.key (PKCS#8 PEM, mode 0600: keep secret) and NAME.pub (give to devices). Existing files are not replaced.", Required = true };
        var json = CommonOptions.Json();
        var cmd = new Command("generate", "Generate a bundle signing key pair.") { output, json };
        cmd.SetAction((parse, ct) => BundleCliOutput.RunAsync(parse, parse.GetValue(json), () =>
        {
            var name = parse.GetValue(output)!;
            var (keyPath, pubPath) = (name + ".key", name + ".pub");
            using var key = BundleSigningKey.Generate();
            foreach (var path in new[] { keyPath, pubPath })
            {
                if (File.Exists(path))
                {
                    throw new IOException($"'{path}' exists; choose another --out or remove it (keys are never overwritten)");
                }
            }

            var dir = Path.GetDirectoryName(Path.GetFullPath(keyPath))!;
            Directory.CreateDirectory(dir);
            WriteNew(keyPath, key.ExportPrivateKeyPem(), OwnerOnly);
            WriteNew(pubPath, key.ExportPublicKeyPem(), OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            if (parse.GetValue(json))
            {
                BundleCliOutput.WriteJson(parse, new { key_id = key.KeyId, private_key = keyPath, public_key = pubPath });
            }
            else
            {
                parse.InvocationConfiguration.Output.WriteLine($"wrote {keyPath} (private: keep it secret) and {pubPath} (trust it on devices); key id {key.KeyId}");
            }

            return Task.FromResult(0);
        }));
        return cmd;
    }

    private static void WriteNew(string path, string text, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            // Set at creation, so the private key is never readable by others, not even for a moment.
            options.UnixCreateMode = mode;
        }

        using var file = new StreamWriter(path, options);
        file.Write(text);
    }
}
