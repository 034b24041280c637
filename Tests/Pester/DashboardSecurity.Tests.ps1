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
        # Listening on one address, the listener itself answers 404 to other host names; the dashboard's own check
        # answers 421 where the listen address is a wildcard.
        (Send-Request GET '/api/queues' @{ Host = 'evil.example' }).Status | Should -BeIn 404, 421
        (Send-Request POST "/api/failures/$queue/retry" @{ Host = 'evil.example:80'; 'X-TaskQueue-Request' = '1' }).Status | Should -BeIn 404, 421
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

    It 'acts on its own page''s request' {
        $answer = Send-Request POST "/api/failures/$queue/$($failed.Id)/retry" @{ 'X-TaskQueue-Request' = '1'; Origin = $base; 'Sec-Fetch-Site' = 'same-origin' }
        $answer.Status | Should -Be 200
        (Get-TqQueue -Name $queue).Pending | Should -Be 1
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
            $null = Start-TqWorker -Queue $q -Burst -SigningKey $keyring
            @(Get-TqFailure -Queue $q).Reason | Sort-Object | Should -Be @('BadSignature', 'Exception')
            $answer = Invoke-RestMethod -Method Post -Headers @{ 'X-TaskQueue-Request' = '1' } "$base/api/failures/$q/retry"
            $answer.requeued | Should -Be 1
            (Get-TqFailure -Queue $q -Id $plain.Id -ErrorAction Ignore) | Should -BeNullOrEmpty
            (Get-TqFailure -Queue $q -Id $forged).Reason | Should -Be 'BadSignature'
            $answer = Invoke-RestMethod -Method Post -Headers @{ 'X-TaskQueue-Request' = '1' } "$base/api/failures/$q/retry?include=BadSignature"
            $answer.requeued | Should -Be 1
            (Get-TqFailure -Queue $q -Id $forged -ErrorAction Ignore) | Should -BeNullOrEmpty
        }
        finally { Remove-TestQueue $q }
    }
}
