using System;
using System.Text;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Security;

/// <summary>
/// Authenticates success and failure records (docs/SECURITY.md, "Records a worker trusts"): a worker with a keyring
/// adds <c>Proof</c>, <c>&lt;key id&gt;:&lt;base64 HMAC-SHA256&gt;</c>, to each record it writes, over the task's id, the
/// outcome and the record's JSON without the proof. A worker builds <c>$TqDependencies</c> only from records whose
/// proof verifies, so a Redis writer who forges a dependency's success record cannot choose what a signed task reads.
/// </summary>
public static class RecordProof
{
    private const string Success = "s";
    private const string Failure = "f";

    /// <summary>The stored JSON of a success record (cut to RecordLimits), with its proof when <paramref name="keyring"/> is given.</summary>
    public static string Store(TaskResult result, SigningKeyring? keyring)
    {
        RecordLimits.Apply(result);
        result.Proof = null;
        var json = TqJson.Serialize(result);
        return keyring is null ? json : WithProof(json, Make(keyring, result.Id, Success, json));
    }

    /// <summary>The stored JSON of a failure record (cut to RecordLimits), with its proof when <paramref name="keyring"/> is given.</summary>
    public static string Store(TaskError error, SigningKeyring? keyring)
    {
        RecordLimits.Apply(error);
        error.Proof = null;
        var json = TqJson.Serialize(error);
        return keyring is null ? json : WithProof(json, Make(keyring, error.Id, Failure, json));
    }

    /// <summary>True when the stored success record of task <paramref name="id"/> carries a proof that verifies.</summary>
    public static bool Verifies(TaskResult result, string id, SigningKeyring keyring)
    {
        var proof = result.Proof;
        if (proof is null || result.Id != id) return false;
        result.Proof = null;
        try { return Check(keyring, id, Success, TqJson.Serialize(result), proof); }
        finally { result.Proof = proof; }
    }

    /// <summary>True when the stored failure record of task <paramref name="id"/> carries a proof that verifies.</summary>
    public static bool Verifies(TaskError error, string id, SigningKeyring keyring)
    {
        var proof = error.Proof;
        if (proof is null || error.Id != id) return false;
        error.Proof = null;
        try { return Check(keyring, id, Failure, TqJson.Serialize(error), proof); }
        finally { error.Proof = proof; }
    }

    // The proof is the record's last member: the JSON without it is the JSON the proof was made over.
    private static string WithProof(string json, string proof) =>
        json.Length <= 2 ? json : json.Substring(0, json.Length - 1) + ",\"proof\":\"" + proof + "\"}";

    private static string Make(SigningKeyring keyring, string id, string outcome, string json) =>
        keyring.SigningKeyId + ":" + Convert.ToBase64String(EnvelopeSignature.Mac(keyring.SigningSecret, Head(id, outcome), Encoding.UTF8.GetBytes(json)));

    private static bool Check(SigningKeyring keyring, string id, string outcome, string json, string proof)
    {
        var colon = proof.IndexOf(':');
        if (colon <= 0 || !keyring.TryGetSecret(proof.Substring(0, colon), out var secret)) return false;
        byte[] claimed;
        try { claimed = Convert.FromBase64String(proof.Substring(colon + 1)); }
        catch (FormatException) { return false; }
        return EnvelopeSignature.FixedTimeEquals(claimed, EnvelopeSignature.Mac(secret, Head(id, outcome), Encoding.UTF8.GetBytes(json)));
    }

    // What the proof covers ahead of the record's JSON.
    private static byte[] Head(string id, string outcome) => Encoding.UTF8.GetBytes("tq-record-1\n" + id + "\n" + outcome + "\n");
}
