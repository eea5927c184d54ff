using EdgeLlm.Runtime.Benchmarks;
using EdgeLlm.Runtime.Generation;
using EdgeLlm.Runtime.Providers;
using EdgeLlm.Runtime.Tests.Generation;

namespace EdgeLlm.Runtime.Tests.Benchmarks;

[Collection(TinyModels.Name)]
public sealed class VariantComparisonTests(TinyModelFixture models)
{
    [Fact]
    public void Parse_applies_each_setting_to_a_copy_of_the_baseline()
    {
        var baseline = new RuntimeOptions { IntraOpNumThreads = 2 };
        var variant = VariantComparison.Parse("whole:chunk=0,rewrite=off,spinning=off,opt=basic,threads=1,session.dynamic_block_base=4", baseline);

        Assert.Equal("whole", variant.Name);
        Assert.Equal(0, variant.Options.PrefillChunkTokens);
        Assert.False(variant.Options.LastPositionLogitsOnly);
        Assert.False(variant.Options.AllowSpinning);
        Assert.Equal(GraphOptimization.Basic, variant.Options.GraphOptimization);
        Assert.Equal(1, variant.Options.IntraOpNumThreads);
        Assert.Equal("4", variant.Options.SessionConfigEntries["session.dynamic_block_base"]);

        Assert.Equal(128, baseline.PrefillChunkTokens);
        Assert.Equal(2, baseline.IntraOpNumThreads);
        Assert.Empty(baseline.SessionConfigEntries);
    }

    [Fact]
    public void Parse_without_settings_is_the_baseline()
    {
        var variant = VariantComparison.Parse("base", new RuntimeOptions { PrefillChunkTokens = 64 });

        Assert.Equal("base", variant.Name);
        Assert.Equal("", variant.Settings);
        Assert.Equal(64, variant.Options.PrefillChunkTokens);
    }

    [Theory]
    [InlineData("", "give a name")]
    [InlineData(":chunk=1", "give a name")]
    [InlineData("a:chunk", "is not KEY=VALUE")]
    [InlineData("a:=1", "is not KEY=VALUE")]
    [InlineData("a:chunk=", "is not KEY=VALUE")]
    [InlineData("a:chunk=-5", "not a whole number")]
    [InlineData("a:chunk=99999999999999", "not a whole number")]
    [InlineData("a:threads=0", "1 or more")]
    [InlineData("a:rewrite=yes", "is not on or off")]
    [InlineData("a:opt=7", "is not one of disabled")]
    [InlineData("a:colour=red", "unknown key 'colour'")]
    public void Parse_rejects_malformed_variants_naming_the_input(string text, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => VariantComparison.Parse(text, new RuntimeOptions()));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains(text, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_measures_every_variant_in_turn_with_ratios_to_the_first()
    {
        var baseline = new RuntimeOptions { IntraOpNumThreads = 1, ProviderPolicy = ProviderPolicy.CpuOnly };
        BenchmarkVariant[] variants = [VariantComparison.Parse("pruned", baseline), VariantComparison.Parse("builder:rewrite=off,chunk=0", baseline)];

        var result = await VariantComparison.RunAsync(models.Folder("int4"), variants, promptTokens: 12, generatedTokens: 4, runs: 3);

        Assert.Equal(["pruned", "builder"], result.Variants.Select(v => v.Variant));
        Assert.Equal(["pruned", "builder"], result.Variants.Select(v => v.Graph));
        Assert.Equal(new Figure(1, 1, 1), result.Variants[0].DecodeVsFirst);
        Assert.All(result.Variants, v =>
        {
            Assert.InRange(v.Decode.Median, v.Decode.Min, v.Decode.Max);
            Assert.True(v.Prefill.Min > 0);
            Assert.True(v.PrefillVsFirst.Min > 0);
        });
    }
}
