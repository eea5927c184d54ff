namespace EdgeLlm.Cli;

internal static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine($"edgellm: no command given ({args.Length} arguments)");
        return 2;
    }
}
