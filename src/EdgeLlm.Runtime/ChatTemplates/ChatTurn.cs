namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>One message of a conversation as chat templates see it: <c>{role, content}</c>.</summary>
/// <param name="Role">Usually "system", "user" or "assistant"; the template decides what it accepts.</param>
/// <param name="Content">The message text, passed to the template unchanged.</param>
public sealed record ChatTurn(string Role, string Content);
