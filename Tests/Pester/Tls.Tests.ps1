# Redis over TLS (docs/SECURITY.md, "Redis over TLS"): a private certificate authority made with openssl, a redis-server
# that listens for TLS only on the port the tests use and requires client certificates, and every part of the module
# (send, worker, records, dashboard) through it.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1')
    if (-not (Get-Command openssl -ErrorAction Ignore)) { $null = Install-DebianPackage openssl }

    $pki = Join-Path $TestDrive 'pki'
    $null = New-Item -ItemType Directory $pki
    function Invoke-OpenSsl { & openssl @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "openssl $($args -join ' ') failed" } }
    function New-SignedCertificate([string] $Name, [string] $Extensions) {
        Set-Content (Join-Path $pki "$Name.ext") $Extensions
        Invoke-OpenSsl req -new -nodes -newkey rsa:2048 -keyout (Join-Path $pki "$Name.key") -out (Join-Path $pki "$Name.csr") -subj "/CN=$Name"
        Invoke-OpenSsl x509 -req -in (Join-Path $pki "$Name.csr") -CA (Join-Path $pki 'ca.crt') -CAkey (Join-Path $pki 'ca.key') -CAcreateserial `
            -out (Join-Path $pki "$Name.crt") -days 2 -extfile (Join-Path $pki "$Name.ext")
    }
    Invoke-OpenSsl req -x509 -new -nodes -newkey rsa:2048 -keyout (Join-Path $pki 'ca.key') -out (Join-Path $pki 'ca.crt') -days 2 -subj '/CN=TaskQueue test CA'
    New-SignedCertificate 'server' "subjectAltName=DNS:localhost,IP:127.0.0.1`nextendedKeyUsage=serverAuth"
    New-SignedCertificate 'client' 'extendedKeyUsage=clientAuth'

    $tlsPort = Get-FreeLoopbackPort
    $server = Start-PrivateRedis -Kind redis -Arguments @('--tls-port', $tlsPort, '--tls-cert-file', (Join-Path $pki 'server.crt'),
        '--tls-key-file', (Join-Path $pki 'server.key'), '--tls-ca-cert-file', (Join-Path $pki 'ca.crt'), '--tls-auth-clients', 'yes')
    $ca = Join-Path $pki 'ca.crt'
    $client = "sslCert=$(Join-Path $pki 'client.crt'),sslKey=$(Join-Path $pki 'client.key')"
    $tls = "127.0.0.1:$tlsPort,ssl=true,sslHost=localhost,sslCa=$ca,$client"
    $queue = New-TestQueue 'tls'
}
AfterAll {
    if ($server) { Stop-PrivateRedis $server }
}

Describe 'Redis over TLS' {
    It 'sends, runs, records and shows tasks over TLS with a private CA and a client certificate' {
        $ok = Send-TqTask -Redis $tls -Queue $queue -ScriptBlock { 'over tls' }
        $bad = Send-TqTask -Redis $tls -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'failed over tls' }
        $null = Start-TqWorker -Redis $tls -Queue $queue -Burst -AllowUnsigned
        (Get-TqResult -Redis $tls -Queue $queue -Id $ok.Id).Output | Should -Be 'over tls'
        (Get-TqFailure -Redis $tls -Queue $queue -Id $bad.Id).Message | Should -Match 'failed over tls'
        $dashboard = Start-TestDashboard @{ Redis = $tls }
        try {
            $overview = Invoke-RestMethod "$($dashboard.BaseUrl)/api/overview?queue=$queue"
            ($overview.queues | Where-Object name -eq $queue).succeeded | Should -Be 1
            $overview.failures.items[0].id | Should -Be $bad.Id
        }
        finally { Stop-Job $dashboard; Remove-Job $dashboard -Force }
        # The plain port of the same server holds the same data: the TLS port was really the one used.
        (Send-RespCommand -Port $server.Port -Command "HEXISTS tq:{$queue}:results $($ok.Id)") | Should -Match ':1'
    }

    It 'takes the client certificate as a password-protected PFX file (sslCertPassword), and refuses a wrong password' {
        $pfx = Join-Path $pki 'client.pfx'
        Invoke-OpenSsl pkcs12 -export -in (Join-Path $pki 'client.crt') -inkey (Join-Path $pki 'client.key') -out $pfx -passout 'pass:pfx-secret'
        $withPfx = "127.0.0.1:$tlsPort,ssl=true,sslHost=localhost,sslCa=$ca,sslCert=$pfx"
        $task = Send-TqTask -Redis "$withPfx,sslCertPassword=pfx-secret" -Queue $queue -ScriptBlock { 'pfx' }
        (Send-RespCommand -Port $server.Port -Command "HEXISTS tq:{$queue}:tasks $($task.Id)") | Should -Match ':1'
        { Get-TqQueue -Redis "$withPfx,sslCertPassword=wrong,connectTimeout=3000" -ErrorAction Stop } | Should -Throw
    }

    It 'fails with a message naming sslHost when the server''s certificate is for another name' {
        { Get-TqQueue -Redis "127.0.0.1:$tlsPort,ssl=true,sslHost=redis.example,sslCa=$ca,$client,connectTimeout=3000" } |
            Should -Throw '*over TLS*matches sslHost*'
    }

    It 'refuses a server certificate from an authority it was not told to trust' {
        { Get-TqQueue -Redis "127.0.0.1:$tlsPort,ssl=true,sslHost=localhost,$client,connectTimeout=3000" } | Should -Throw '*over TLS*'
    }

    It 'is refused without a client certificate when the server requires one' {
        { Get-TqQueue -Redis "127.0.0.1:$tlsPort,ssl=true,sslHost=localhost,sslCa=$ca,connectTimeout=3000" } | Should -Throw '*over TLS*'
    }

    It 'says which TLS file is missing' {
        { Get-TqQueue -Redis "127.0.0.1:$tlsPort,sslCa=/nonexistent/ca.crt" } | Should -Throw '*sslCa=/nonexistent/ca.crt does not exist*'
    }
}

Describe 'A Redis beyond this machine without TLS or a password' {
    It 'warns once per configuration, naming what is missing, and not for loopback or TLS with a password' {
        # 192.0.2.0/24 is reserved for documentation: nothing answers there, and the warning comes before connecting.
        $remote = '192.0.2.10:6379,connectTimeout=300'
        try { $null = Get-TqQueue -Redis $remote -WarningVariable first -WarningAction SilentlyContinue } catch { }
        ($first -join ' ') | Should -Match '192\.0\.2\.10:6379.*without TLS \(ssl=true\) and without a password'
        try { $null = Get-TqQueue -Redis $remote -WarningVariable second -WarningAction SilentlyContinue } catch { }
        $second | Should -BeNullOrEmpty -Because 'it warns once per configuration and process'
        try { $null = Get-TqQueue -Redis '192.0.2.11:6379,password=x,connectTimeout=300' -WarningVariable noTls -WarningAction SilentlyContinue } catch { }
        ($noTls -join ' ') | Should -Match 'without TLS \(ssl=true\):'
        try { $null = Get-TqQueue -Redis '192.0.2.12:6379,password=x,ssl=true,connectTimeout=300' -WarningVariable secured -WarningAction SilentlyContinue } catch { }
        $secured | Should -BeNullOrEmpty
        $null = Get-TqQueue -Redis $tls -WarningVariable local -WarningAction SilentlyContinue
        $local | Should -BeNullOrEmpty -Because 'a loopback Redis is not reached over the network'
    }
}
