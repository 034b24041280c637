using System.Collections.Generic;
using System.Linq;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>depend.lua: a waiting task registered with the tasks of one queue it waits for. Its keys, arguments and reply.</summary>
internal static class Depend
{
    public static readonly QueueScript Script = QueueScript.Load("depend.lua", k => new[] { k.Dependents, k.Succeeded, k.Failed, k.Tasks });

    /// <summary>The waiting task's line '&lt;queue&gt;\t&lt;id&gt;\t&lt;policy&gt;', then the ids it waits for.</summary>
    public static RedisValue[] Args(string line, IEnumerable<string> ids) => ids.Select(id => (RedisValue)id).Prepend(line).ToArray();

    /// <summary>Per id: 's' succeeded already, 'f' failed already, 'w' registered, 'u' no such task.</summary>
    public static string[] Read(RedisResult reply) =>
        ((RedisResult[])reply!).Select(a => (string?)a is "s" or "f" or "w" or "u" ? (string)a! : throw new UnexpectedScriptReplyException(Script.Name, (string?)a ?? "(nil)")).ToArray();
}
