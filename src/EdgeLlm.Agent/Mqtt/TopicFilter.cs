using EdgeLlm.Contracts.Mqtt;

namespace EdgeLlm.Agent.Mqtt;

/// <summary>MQTT topic filter rules (<c>+</c> one level, <c>#</c> the rest) for the embedded broker's permissions.</summary>
internal static class TopicFilter
{
    /// <summary>True when <paramref name="filter"/> matches the concrete <paramref name="topic"/>.</summary>
    public static bool Matches(string filter, string topic) => Covers(filter, topic);

    /// <summary>True when every topic <paramref name="requested"/> (itself a topic or filter) can match is matched by <paramref name="allowed"/>.</summary>
    public static bool Covers(string allowed, string requested)
    {
        var a = allowed.Split('/');
        var r = requested.Split('/');
        for (var i = 0; i < a.Length; i++)
        {
            if (a[i] == "#")
            {
                return true;
            }

            if (i >= r.Length || r[i] == "#" || (a[i] == "+" ? false : a[i] != r[i]))
            {
                return false;
            }
        }

        return a.Length == r.Length;
    }

    /// <summary>True when <paramref name="topic"/> can be published to: not empty, no wildcards, no NUL.</summary>
    public static bool IsPublishable(string? topic) =>
        !string.IsNullOrEmpty(topic) && topic.Length <= 1024 && topic.IndexOfAny(['+', '#', '\0']) < 0;

    /// <summary>
    /// True when the agent may publish replies to <paramref name="topic"/>: publishable, not a broker topic
    /// (<c>$SYS/…</c>), and inside <c>edgellm/v1/</c> only under a device's <c>reply/</c> level. Anything else there
    /// (<c>status</c>, <c>events</c>, <c>alerts</c>, <c>ask</c>, sensors) is the agent's own or another client's
    /// channel, which the agent may write to on a broker's ACL but an asker must not be able to steer it into.
    /// </summary>
    public static bool IsReplyTopic(string? topic)
    {
        if (!IsPublishable(topic) || topic![0] == '$')
        {
            return false;
        }

        if (!topic.StartsWith(MqttTopics.Prefix + "/", StringComparison.Ordinal))
        {
            return true;
        }

        var levels = topic.Split('/');
        return levels.Length >= 5 && levels[3] == "reply" && levels[2].Length > 0 && levels[4].Length > 0;
    }

    /// <summary>The refusal for a reply address that <see cref="IsReplyTopic"/> rejects; <paramref name="what"/> names where it came from.</summary>
    public static string NotAReplyTopic(string what, string topic) =>
        $"{what} '{topic}' is not a reply topic: no wildcards, no $ topics, and under {MqttTopics.Prefix}/ only DEVICE/reply/…";
}
