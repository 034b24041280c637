using System;
using TaskQueue.Core.Connection;
using Xunit;

namespace TaskQueue.Core.Tests;

/// <summary>The Redis configuration string as TaskQueue reads it (RedisConnections.Parse); no server involved.</summary>
[Collection("Environment")]
public sealed class ConfigurationTests
{
    [Fact]
    public void A_password_with_a_comma_is_refused_without_naming_its_rest_and_one_apart_is_read_from_the_environment()
    {
        var error = Assert.Throws<ArgumentException>(() => RedisConnections.Parse("redis01:6379,password=abc,secretrest"));
        Assert.Contains("comma", error.Message);
        Assert.DoesNotContain("secretrest", error.Message);
        // Servers first, options after: still read as before.
        Assert.Equal("abc", RedisConnections.Parse("redis01:6379,redis02:6379,password=abc,ssl=false").Password);

        var saved = Environment.GetEnvironmentVariable(RedisConnections.PasswordVariable);
        try
        {
            Environment.SetEnvironmentVariable(RedisConnections.PasswordVariable, "with,a,comma");
            Assert.Equal("with,a,comma", RedisConnections.Parse("redis01:6379").Password);
            // One in the string wins.
            Assert.Equal("given", RedisConnections.Parse("redis01:6379,password=given").Password);
        }
        finally { Environment.SetEnvironmentVariable(RedisConnections.PasswordVariable, saved); }
    }
}
