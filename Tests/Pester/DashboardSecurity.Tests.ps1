# The dashboard obeys only its own page (docs/DASHBOARD.md, Security): each request below is what a foreign web page,
# a DNS-rebinding page or a plain cross-site form could send to a loopback dashboard.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1')
    $env:TQ_REDIS = Get-TestRedis
    $queue = New-TestQueue 'dashsec'
    $failed = Send-TqTask -Queue $queue -MaxAttempts 1 -ScriptBlock { throw 'x' }
    $null = Start-TqWorker -Queue $queue -Burst -AllowUnsigned
    $dashboard = Start-TestDashboard
    $base = $dashboard.BaseUrl

    # Sends a raw request (HttpClient, so that Origin and Host can be set as a browser or an attacker would).
    function Send-Request([string] $Method, [string] $Path, [hashtable] $Headers = @{}) {
        $client = [System.Net.Http.HttpClient]::new()
        try {
            $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::new($Method), "$base$Path")
            foreach ($name in $Headers.Keys) {
                if ($name -eq 'Host') { $request.Headers.Host = $Headers[$name] }
                else { $null = $request.Headers.TryAddWithoutValidation($name, [string]$Headers[$name]) }
            }
            if ($Method -eq 'POST') { $request.Content = [System.Net.Http.StringContent]::new('x=1', [Text.Encoding]::UTF8, 'application/x-www-form-urlencoded') }
            $response = $client.SendAsync($request).GetAwaiter().GetResult()
            [pscustomobject]@{ Status = [int]$response.StatusCode; Headers = $response.Headers; Body = $response.Content.ReadAsStringAsync().GetAwaiter().GetResult() }
        }
        finally { $client.Dispose() }
    }
}
AfterAll {
    Stop-Job $dashboard; Remove-Job $dashboard -Force
    Remove-TestQueue $queue
}

Describe 'The dashboard against other sites' {
    It 'refuses a cross-site form POST (no page header, foreign Origin) with 403, and nothing is retried' {
        $answer = Send-Request POST "/api/failures/$queue/retry" @{ Origin = 'https://evil.example'; 'Sec-Fetch-Site' = 'cross-site' }
        $answer.Status | Should -Be 403
        $bodiless = Send-Request POST "/api/failures/$queue/$($failed.Id)/retry"
        $bodiless.Status | Should -Be 403
        (Get-TqFailure -Queue $queue -Id $failed.Id) | Should -Not -BeNullOrEmpty
        (Get-TqQueue -Name $queue).Pending | Should -Be 0
    }

    It 'refuses the page header from a foreign Origin' {
        $answer = Send-Request POST "/api/failures/$queue/retry" @{ Origin = 'https://evil.example'; 'X-TaskQueue-Request' = '1' }
        $answer.Status | Should -Be 403
        (Get-TqQueue -Name $queue).Failed | Should -Be 1
    }

    It 'refuses a Host name that is not its own (DNS rebinding), whatever the request' {
        (Send-Request GET '/api/queues' @{ Host = 'evil.example' }).Status | Should -Be 421
        (Send-Request POST "/api/failures/$queue/retry" @{ Host = 'evil.example:80'; 'X-TaskQueue-Request' = '1' }).Status | Should -Be 421
        (Get-TqQueue -Name $queue).Failed | Should -Be 1
        (Send-Request GET '/api/queues' @{ Host = '127.0.0.1' }).Status | Should -Be 200
    }

    It 'listens on every address with -ListenAddress 0.0.0.0 (and a token), answering 421 to a foreign Host name' {
        $token = 'a-token-of-24-characters'
        $wide = Start-TestDashboard @{ ListenAddress = '0.0.0.0'; Token = $token; HostName = 'tq.example' }
        try {
            $client = [System.Net.Http.HttpClient]::new()
            $client.DefaultRequestHeaders.Authorization = [System.Net.Http.Headers.AuthenticationHeaderValue]::new('Bearer', $token)
            foreach ($case in @(@{ Host = 'evil.example'; Status = 421 }, @{ Host = 'tq.example'; Status = 200 }, @{ Host = '127.0.0.1'; Status = 200 })) {
                $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::Get, "$($wide.BaseUrl)/api/queues")
                $request.Headers.Host = $case.Host
                [int]$client.SendAsync($request).GetAwaiter().GetResult().StatusCode | Should -Be $case.Status -Because "Host $($case.Host)"
            }
            $client.Dispose()
        }
        finally { Stop-Job $wide; Remove-Job $wide -Force }
    }

    It 'sends a CSP that allows only its own script by hash, no framing, nosniff and no referrer' {
        $page = Send-Request GET '/'
        $csp = ($page.Headers.GetValues('Content-Security-Policy') -join '')
        $csp | Should -Match "script-src 'sha256-[A-Za-z0-9+/]+=*'"
        $csp | Should -Match "frame-ancestors 'none'"
        $csp | Should -Not -Match 'unsafe-inline.*script|script-src[^;]*unsafe'
        $script = [regex]::Match($page.Body, '(?s)<script>(.*?)</script>').Groups[1].Value
        $hash = [Convert]::ToBase64String([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($script)))
        $csp | Should -BeLike "*'sha256-$hash'*"
        ($page.Headers.GetValues('X-Content-Type-Options') -join '') | Should -Be 'nosniff'
        ($page.Headers.GetValues('Referrer-Policy') -join '') | Should -Be 'no-referrer'
    }

    It 'escapes label values on /metrics, so a worker id cannot add lines of its own' {
        $evil = "evil`"} 1`ntq_workers 999`n#"
        Invoke-Redis ZADD 'tq:workers' ([DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()) $evil
        Invoke-Redis HSET "tq:worker:$evil" processed 5 running 0
        try {
            $metrics = (Send-Request GET '/metrics').Body
            $metrics | Should -Not -Match '(?m)^tq_workers 999'
            $metrics | Should -Match ([regex]::Escape('tq_worker_processed_total{worker="evil\"} 1\ntq_workers 999\n#"} 5'))
            foreach ($line in $metrics -split "`n" | Where-Object { $_ -and $_ -notmatch '^# ' }) {
                $line | Should -Match '^tq_[a-z_]+(\{.*\})? \S+$'
            }
        }
        finally {
            Invoke-Redis ZREM 'tq:workers' $evil
            Invoke-Redis DEL "tq:worker:$evil"
        }
    }

    It 'acts on its own page''s request' {
        # A failure of its own: the tests above find the shared one still failed, whatever order they run in.
        $own = New-TestQueue 'dashsec'
        try {
            $mine = New-FailureRecord -Queue $own
            $answer = Send-Request POST "/api/failures/$own/$($mine.Id)/retry" @{ 'X-TaskQueue-Request' = '1'; Origin = $base; 'Sec-Fetch-Site' = 'same-origin' }
            $answer.Status | Should -Be 200
            (Get-TqQueue -Name $own).Pending | Should -Be 1
        }
        finally { Remove-TestQueue $own }
    }
}

Describe 'The dashboard token' {
    BeforeAll {
        $token = 'tok-' + [guid]::NewGuid().ToString('N')
        $secured = Start-TestDashboard @{ Token = $token }
        $securedBase = $secured.BaseUrl
        # Requests without following redirects and without a cookie jar, so that each answer is seen as sent.
        function Send-Raw([string] $Path, [hashtable] $Headers = @{}) {
            $handler = [System.Net.Http.HttpClientHandler]::new()
            $handler.AllowAutoRedirect = $false
            $handler.UseCookies = $false
            $client = [System.Net.Http.HttpClient]::new($handler)
            try {
                $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::Get, "$securedBase$Path")
                foreach ($name in $Headers.Keys) { $null = $request.Headers.TryAddWithoutValidation($name, [string]$Headers[$name]) }
                $response = $client.SendAsync($request).GetAwaiter().GetResult()
                [pscustomobject]@{ Status = [int]$response.StatusCode; Headers = $response.Headers }
            }
            finally { $client.Dispose() }
        }
    }
    AfterAll { Stop-Job $secured; Remove-Job $secured -Force }

    It 'takes a query token on the page only, turns it into an HttpOnly cookie and clears it from the address' {
        $page = Send-Raw "/?token=$token&queue=$queue"
        $page.Status | Should -Be 303
        $page.Headers.Location.OriginalString | Should -Be "/?queue=$queue"
        $cookie = $page.Headers.GetValues('Set-Cookie') -join ''
        $cookie | Should -BeLike "tq_token=$token;*"
        $cookie | Should -Match 'HttpOnly' -Because 'a script on the page must not read the token'
        $cookie | Should -Match 'SameSite=Strict'
        (Send-Raw '/api/queues' @{ Cookie = "other=1; tq_token=$token" }).Status | Should -Be 200
        (Send-Raw '/api/queues' @{ Authorization = "Bearer $token" }).Status | Should -Be 200
        (Send-Raw "/api/queues?token=$token").Status | Should -Be 401 -Because 'a query token ends up in logs and history'
        (Send-Raw "/metrics?token=$token").Status | Should -Be 401
        (Send-Raw "/?token=$($token)x").Status | Should -Be 401
        (Send-Raw '/api/queues' @{ Cookie = "tq_token=$($token.Substring(1))" }).Status | Should -Be 401
        (Send-Raw '/api/queues' @{ Authorization = "Bearer $($token.ToUpper())" }).Status | Should -Be 401
    }

    It 'refuses a token shorter than 16 characters' {
        { Start-TqDashboard -Token 'short-token' -Port (Get-FreeLoopbackPort) -AsJob } | Should -Throw '*Token*'
    }

    It 'shows neither the token nor a literal Redis password in Get-Job' {
        # A Redis of its own with a password, so that the dashboard connects with the literal one.
        $private = Start-PrivateRedis -Kind redis -Arguments '--requirepass', 'literal-secret-pw'
        $line = "Start-TqDashboard -Port $(Get-FreeLoopbackPort) -Token '$token' -Redis '$($private.Configuration),password=literal-secret-pw' -AsJob"
        $job = Invoke-Expression $line
        try {
            $shown = (Get-Job -Id $job.Id | Format-List * | Out-String) + $job.Command
            $shown | Should -Not -Match ([regex]::Escape($token))
            $shown | Should -Not -Match 'literal-secret-pw'
            $job.Command | Should -BeLike 'Start-TqDashboard*'
        }
        finally {
            Stop-Job $job; Remove-Job $job -Force
            Stop-PrivateRedis $private
        }
    }
}

Describe 'The dashboard''s limits' {
    It 'closes a connection whose headers do not arrive within 10 s' {
        $client = [System.Net.Sockets.TcpClient]::new('127.0.0.1', ([uri]$base).Port)
        try {
            $stream = $client.GetStream()
            $partial = [Text.Encoding]::ASCII.GetBytes("GET /api/queues HTTP/1.1`r`nHost: 127.0.0.1`r`n")
            $stream.Write($partial, 0, $partial.Length)
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $stream.ReadTimeout = 60000
            $read = try { $stream.Read([byte[]]::new(64), 0, 64) } catch { 0 }
            $read | Should -Be 0 -Because 'the dashboard closes the socket without answering'
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 30 -Because 'a socket that never finishes its headers is closed after the header timeout (10 s)'
            $watch.Elapsed.TotalSeconds | Should -BeGreaterThan 5
        }
        finally { $client.Dispose() }
    }

    It 'never lets idle sockets lock everyone out: with 40 held open without their headers, a request is served, and the oldest idle ones are closed' {
        # A dashboard of its own, so no connection of another test holds a place.
        $own = Start-TestDashboard
        $port = ([uri]$own.BaseUrl).Port
        $status = { try { [int](Invoke-WebRequest "$($own.BaseUrl)/api/queues" -SkipHttpErrorCheck).StatusCode } catch { $_.Exception.Message } }
        $hold = {
            # A socket that sends the start of a request and never finishes it.
            $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $port)
            $b = [Text.Encoding]::ASCII.GetBytes("GET / HTTP/1.1`r`n")
            $c.GetStream().Write($b, 0, $b.Length)
            $c
        }
        $idle = [System.Collections.Generic.List[object]]::new()
        try {
            foreach ($n in 1..40) { $idle.Add((& $hold)) }
            # Well before the 10 s header timeout would give any place back.
            $watch = [Diagnostics.Stopwatch]::StartNew()
            Wait-Until { (& $status) -eq 200 } -TimeoutSeconds 5 -Because 'a request to be served while 40 idle sockets are held'
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 5
            # The oldest idle socket gave its place: the dashboard closed it without an answer.
            $first = $idle[0]
            $first.Client.Poll(2000000, [System.Net.Sockets.SelectMode]::SelectRead) | Should -BeTrue
            $read = try { $first.GetStream().Read([byte[]]::new(64), 0, 64) } catch { 0 }
            $read | Should -Be 0
        }
        finally {
            $idle | ForEach-Object { $_.Dispose() }
            Stop-Job $own; Remove-Job $own -Force
        }
    }

    It 'answers 400 to a bare LF inside the head, a percent-encoded unreserved character and // in the path' {
        $port = ([uri]$base).Port
        $raw = {
            param([string] $Text)
            $c = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $port)
            try {
                $stream = $c.GetStream()
                $bytes = [Text.Encoding]::ASCII.GetBytes($Text)
                $stream.Write($bytes, 0, $bytes.Length)
                $stream.ReadTimeout = 10000
                $reader = [IO.StreamReader]::new($stream)
                $reader.ReadLine()
            }
            finally { $c.Dispose() }
        }
        $host_ = "Host: 127.0.0.1:$port"
        & $raw "GET /api/queues HTTP/1.1`r`n$host_`r`n`r`n" | Should -BeLike 'HTTP/1.1 200*' -Because 'the plain request is served'
        & $raw "GET /api/queues HTTP/1.1`r`n$host_`nX-Smuggled: 1`r`n`r`n" | Should -BeLike 'HTTP/1.1 400*'
        & $raw "GET /api/%71ueues HTTP/1.1`r`n$host_`r`n`r`n" | Should -BeLike 'HTTP/1.1 400*'
        & $raw "GET //api/queues HTTP/1.1`r`n$host_`r`n`r`n" | Should -BeLike 'HTTP/1.1 400*'
    }

    It 'refuses request bodies beyond 4 KiB and chunked bodies' {
        $client = [System.Net.Http.HttpClient]::new()
        try {
            $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::Post, "$base/api/failures/$queue/retry")
            $null = $request.Headers.TryAddWithoutValidation('X-TaskQueue-Request', '1')
            $request.Content = [System.Net.Http.StringContent]::new(('x' * 10000))
            [int]$client.SendAsync($request).GetAwaiter().GetResult().StatusCode | Should -Be 413
            # A chunked body (no Content-Length) is refused before it is read.
            $chunked = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::Post, "$base/api/failures/$queue/retry")
            $null = $chunked.Headers.TryAddWithoutValidation('X-TaskQueue-Request', '1')
            $chunked.Headers.TransferEncodingChunked = $true
            $chunked.Content = [System.Net.Http.StreamContent]::new([System.IO.MemoryStream]::new([byte[]](1..100)))
            [int]$client.SendAsync($chunked).GetAwaiter().GetResult().StatusCode | Should -Be 411
        }
        finally { $client.Dispose() }
        (Get-TqQueue -Name $queue).Failed + (Get-TqQueue -Name $queue).Pending | Should -Be 1
    }
}

Describe '"Retry all" on the dashboard' {
    It 'leaves BadSignature (and Canceled) failures alone unless asked' {
        $q = New-TestQueue 'dashkeep'
        try {
            $keyring = Join-Path $TestDrive 'k.json'
            $null = New-TqSigningKey -Path $keyring
            $plain = Send-TqTask -Queue $q -MaxAttempts 1 -SigningKey $keyring -ScriptBlock { throw 'retry me' }
            $foreign = Join-Path $TestDrive 'foreign.json'
            $null = New-TqSigningKey -Path $foreign
            $forged = (Send-TqTask -Queue $q -SigningKey $foreign -ScriptBlock { 'not our key' }).Id
            $canceled = Send-TqTask -Queue $q -SigningKey $keyring -ScriptBlock { 'canceled before it ran' }
            Stop-TqTask -Queue $q -Id $canceled.Id
            $null = Start-TqWorker -Queue $q -Burst -SigningKey $keyring
            @(Get-TqFailure -Queue $q).Reason | Sort-Object | Should -Be @('BadSignature', 'Canceled', 'Exception')
            $answer = Invoke-RestMethod -Method Post -Headers @{ 'X-TaskQueue-Request' = '1' } "$base/api/failures/$q/retry"
            $answer.requeued | Should -Be 1
            (Get-TqFailure -Queue $q -Id $plain.Id -ErrorAction Ignore) | Should -BeNullOrEmpty
            (Get-TqFailure -Queue $q -Id $forged).Reason | Should -Be 'BadSignature'
            (Get-TqFailure -Queue $q -Id $canceled.Id).Reason | Should -Be 'Canceled'
            $answer = Invoke-RestMethod -Method Post -Headers @{ 'X-TaskQueue-Request' = '1' } "$base/api/failures/$q/retry?include=BadSignature"
            $answer.requeued | Should -Be 1
            (Get-TqFailure -Queue $q -Id $forged -ErrorAction Ignore) | Should -BeNullOrEmpty
        }
        finally { Remove-TestQueue $q }
    }
}

Describe 'Retry from a dashboard started with -SigningKey' {
    It 'puts back a failure whose stored task verifies, which runs again, and refuses (403 BadSignature) one whose task was changed in Redis' {
        $q = New-TestQueue 'dashsign'
        $dash = $null
        try {
            $keyring = Join-Path $TestDrive 'dash-keys.json'
            $null = New-TqSigningKey -Path $keyring
            $runs = Join-Path $TestDrive "runs-$q.txt"
            $good = Send-TqTask -Queue $q -MaxAttempts 1 -SigningKey $keyring -ArgumentList $runs -ScriptBlock { param($f) Add-Content $f 'ran'; throw 'fails each time' }
            $changed = Send-TqTask -Queue $q -MaxAttempts 1 -SigningKey $keyring -ScriptBlock { throw 'x' }
            $null = Start-TqWorker -Queue $q -Burst -SigningKey $keyring
            @(Get-TqFailure -Queue $q).Count | Should -Be 2
            # What an attacker with write access to Redis does: the failed task's stored envelope gets a script of its own.
            $json = [string](Invoke-Redis HGET "tq:{$q}:tasks" $changed.Id)
            $json.Contains("throw 'x'") | Should -BeTrue
            $null = Invoke-Redis HSET "tq:{$q}:tasks" $changed.Id $json.Replace("throw 'x'", "'owned'")
            $dash = Start-TestDashboard @{ SigningKey = $keyring }
            $headers = @{ 'X-TaskQueue-Request' = '1' }
            $answer = Invoke-WebRequest -Method Post -Headers $headers "$($dash.BaseUrl)/api/failures/$q/$($changed.Id)/retry" -SkipHttpErrorCheck
            $answer.StatusCode | Should -Be 403
            $answer.Content | Should -BeLike '*BadSignature*'
            (Get-TqFailure -Queue $q -Id $changed.Id).Reason | Should -Be 'Exception' -Because 'the failure stays where it was'
            (Invoke-Redis LLEN "tq:{$q}:pending") | Should -Be 0

            $answer = Invoke-WebRequest -Method Post -Headers $headers "$($dash.BaseUrl)/api/failures/$q/$($good.Id)/retry" -SkipHttpErrorCheck
            $answer.StatusCode | Should -Be 200
            $null = Start-TqWorker -Queue $q -Burst -SigningKey $keyring
            @(Get-Content $runs).Count | Should -Be 2 -Because 'the retried task ran again under the keyring'
            (Get-TqFailure -Queue $q -Id $good.Id).Reason | Should -Be 'Exception'
        }
        finally {
            if ($dash) { Stop-Job $dash; Remove-Job $dash -Force }
            Remove-TestQueue $q
        }
    }
}

Describe 'Records the dashboard cannot show whole' {
    BeforeAll {
        $odd = New-TestQueue 'dashodd'
        $big = 'x' * 100000
        $null = Send-TqTask -Queue $odd -Name 'large failure' -MaxAttempts 1 -ArgumentList $big -ScriptBlock { param($s) throw "too big $($s.Length)" }
        $null = Send-TqTask -Queue $odd -Name 'large output' -ScriptBlock { 'y' * 50000 }
        $null = Start-TqWorker -Queue $odd -Burst -AllowUnsigned
        Invoke-Redis HSET "tq:{$odd}:errors" broken-failure '{"v":1,"id":'
        Invoke-Redis ZADD "tq:{$odd}:failed" 1 broken-failure
        Invoke-Redis HSET "tq:{$odd}:results" broken-result 'not json at all'
        Invoke-Redis ZADD "tq:{$odd}:succeeded" 1 broken-result
    }
    AfterAll { Remove-TestQueue $odd }

    It 'shows a malformed failure or success record as unreadable, not as a 500' {
        $overview = Invoke-WebRequest "$base/api/overview?queue=$odd"
        $overview.StatusCode | Should -Be 200
        $failures = (Invoke-RestMethod "$base/api/failures/$odd").Where({ $_.id -eq 'broken-failure' })
        $failures.reason | Should -Be 'UnreadableRecord'
        $results = (Invoke-RestMethod "$base/api/results/$odd").Where({ $_.id -eq 'broken-result' })
        $results.name | Should -BeLike '(unreadable record*'
        (Get-TqFailure -Queue $odd -Id broken-failure).Reason | Should -Be 'UnreadableRecord'
    }

    It 'reads a failure''s task only up to 16 KiB and cuts output at 8 KiB per record' {
        $page = Invoke-WebRequest "$base/api/failures/$odd"
        $page.Content.Length | Should -BeLessThan 20000 -Because 'the 100 KB argument is not read for the page'
        $large = (ConvertFrom-Json $page.Content).Where({ $_.message -like 'too big*' })
        $large.name | Should -BeLike '(task of 9? KiB, not read)'
        $results = Invoke-WebRequest "$base/api/results/$odd"
        $results.Content.Length | Should -BeLessThan 20000
        $cut = (ConvertFrom-Json $results.Content).Where({ $_.name -eq 'large output' })
        $cut.outputTruncated | Should -BeTrue
        $cut.outputChars | Should -BeGreaterThan 50000
        (Get-TqResult -Queue $odd -First 10).Where({ $_.Name -eq 'large output' }).Output.Length | Should -Be 50000 -Because 'the cmdlets show it whole'
    }
}
