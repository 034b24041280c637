using System.Text;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;

namespace TaskQueue.Core.Tests;

public sealed class SignatureTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "tq-sig-" + Guid.NewGuid().ToString("N"));

    public SignatureTests() => Directory.CreateDirectory(_folder);
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private SigningKeyring NewRing(string id) => SigningKeyring.Create(Path.Combine(_folder, id + ".json"), id);

    private static byte[] Json(string queue = "ops", string id = "t1", string kid = "k1") =>
        TqJson.SerializeToUtf8(new TaskEnvelope { Id = id, Queue = queue, Kind = "script", Script = "1", Kid = kid });

    [Fact]
    public void A_signed_value_is_one_line_then_the_json_it_signs_and_verifies_with_the_key()
    {
        var ring = NewRing("k1");
        var json = Json();
        var stored = EnvelopeSignature.Sign(json, ring);
        var text = Encoding.UTF8.GetString(stored);
        Assert.Matches("^sig1:k1:[A-Za-z0-9+/]{43}=\n", text);
        Assert.Equal(json, stored.AsSpan(EnvelopeSignature.BodyOffset(stored)).ToArray());
        Assert.Equal(SignatureCheck.Valid, EnvelopeSignature.Verify(stored, ring, out var keyId));
        Assert.Equal("k1", keyId);
        Assert.Equal("ops", TqJson.ReadEnvelopeUtf8(stored).Queue);
    }

    [Fact]
    public void Any_changed_byte_unknown_key_missing_or_broken_line_is_refused()
    {
        var ring = NewRing("k1");
        var stored = EnvelopeSignature.Sign(Json(), ring);
        var altered = (byte[])stored.Clone();
        altered[^2] ^= 1;
        Assert.Equal(SignatureCheck.Invalid, EnvelopeSignature.Verify(altered, ring, out _));
        Assert.Equal(SignatureCheck.UnknownKey, EnvelopeSignature.Verify(EnvelopeSignature.Sign(Json(), NewRing("k2")), ring, out var other));
        Assert.Equal("k2", other);
        Assert.Equal(SignatureCheck.Unsigned, EnvelopeSignature.Verify(Json(), ring, out _));
        Assert.Equal(SignatureCheck.Malformed, EnvelopeSignature.Verify(Encoding.ASCII.GetBytes("sig1:k1:not base64!\n{}"), ring, out _));
        Assert.Equal(SignatureCheck.Malformed, EnvelopeSignature.Verify(Encoding.ASCII.GetBytes("sig1:k1"), ring, out _));
    }

    [Fact]
    public void The_policy_refuses_a_valid_signature_found_under_another_queue_or_id()
    {
        var ring = NewRing("k1");
        var policy = new SignaturePolicy(ring, allowUnsigned: false);
        var stored = EnvelopeSignature.Sign(Json("ops", "t1"), ring);
        Assert.Null(policy.Check(stored, "ops", "t1"));
        Assert.Contains("copied or moved", policy.Check(stored, "other", "t1"));
        Assert.Contains("copied or moved", policy.Check(stored, "ops", "t2"));
        Assert.Contains("not signed", policy.Check(Json(), "ops", "t1"));
        Assert.Null(new SignaturePolicy(ring, allowUnsigned: true).Check(Json(), "ops", "t1"));
        Assert.Null(new SignaturePolicy(null, allowUnsigned: false).Check(Json(), "ops", "t1"));
    }

    [Fact]
    public void A_keyring_rotates_and_refuses_to_lose_its_signing_key()
    {
        var path = Path.Combine(_folder, "ring.json");
        var first = SigningKeyring.Create(path, "a");
        var signedByA = EnvelopeSignature.Sign(Json(kid: "a"), first);
        var second = SigningKeyring.AddKey(path, "b");
        Assert.Equal("b", second.SigningKeyId);
        Assert.Equal(SignatureCheck.Valid, EnvelopeSignature.Verify(signedByA, second, out _));
        Assert.Throws<SigningKeyException>(() => SigningKeyring.RetireKey(path, "b"));
        var third = SigningKeyring.RetireKey(path, "a");
        Assert.Equal(SignatureCheck.UnknownKey, EnvelopeSignature.Verify(signedByA, third, out _));
        Assert.Throws<SigningKeyException>(() => SigningKeyring.Create(path));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }
}
