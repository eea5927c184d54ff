namespace EdgeLlm.Runtime.Tests.Generation;

/// <summary>Compares logits rows within a tolerance, refusing flat rows for which any comparison would pass.</summary>
internal static class LogitsAssert
{
    public static void Close(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.Max() - expected.Min() > 1e-2f, $"{what}: the logits are flat; the comparison would prove nothing");
        var worst = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        Assert.True(worst <= tolerance, $"{what}: logits differ by up to {worst:E2} (tolerance {tolerance:E0})");
    }
}
