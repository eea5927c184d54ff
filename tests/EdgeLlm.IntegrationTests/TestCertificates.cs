using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EdgeLlm.IntegrationTests;

/// <summary>
/// A throw-away CA with a server certificate for localhost/127.0.0.1 and a client certificate (CN edgellm-agent), as PEM
/// files; further client certificates on demand, one per common name (<c>{cn}.pem</c>, <c>{cn}.key</c>).
/// </summary>
internal static class TestCertificates
{
    internal sealed record Files(string Ca, string ServerCert, string ServerKey, string ClientCert, string ClientKey);

    public static Files Write(string folder, IEnumerable<string>? clientNames = null)
    {
        var now = DateTimeOffset.UnixEpoch.AddYears(56);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=edgellm test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddYears(-1), now.AddYears(30));

        var files = new Files(
            Path.Combine(folder, "ca.pem"),
            Path.Combine(folder, "server.pem"),
            Path.Combine(folder, "server.key"),
            Path.Combine(folder, "client.pem"),
            Path.Combine(folder, "client.key"));
        File.WriteAllText(files.Ca, ca.ExportCertificatePem());
        Issue(ca, "CN=localhost", serverAuth: true, files.ServerCert, files.ServerKey, now, 1);
        Issue(ca, "CN=edgellm-agent", serverAuth: false, files.ClientCert, files.ClientKey, now, 2);
        byte serial = 3;
        foreach (var cn in clientNames ?? [])
        {
            Issue(ca, "CN=" + cn, serverAuth: false, Path.Combine(folder, cn + ".pem"), Path.Combine(folder, cn + ".key"), now, serial++);
        }

        return files;
    }

    private static void Issue(X509Certificate2 ca, string subject, bool serverAuth, string certFile, string keyFile, DateTimeOffset now, byte serial)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }

        using var cert = request.Create(ca, now.AddDays(-1), now.AddYears(10), [serial]);
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }
}
