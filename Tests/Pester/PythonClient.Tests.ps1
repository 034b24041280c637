# The official Python client (clients/python) against real workers: each of its unittest cases is one test here.
# Its interpreter is Debian's python3 with python3-redis, which the build installs when missing (tools/build/Installers.ps1).
BeforeDiscovery {
    $cases = @(Select-String -Path (Join-Path $PSScriptRoot '../../clients/python/tests/test_client.py') -Pattern '^\s+def (test_\w+)\(' |
        ForEach-Object { @{ Case = $_.Matches[0].Groups[1].Value } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../TaskQueue.psd1')
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot '../../tools/Build.psm1') -Force
    $env:TQ_REDIS = Get-TestRedis
    $python = Find-PythonRedis
    $queue = New-TestQueue 'py'
    $signedQueue = New-TestQueue 'pys'
    $keyring = Join-Path ([IO.Path]::GetTempPath()) "tq-py-keyring-$PID.json"
    $null = New-TqSigningKey -Path $keyring
    $workers = @(
        Start-TqWorker -Queue $queue -Concurrency 2 -AsJob -RetryDelay 0 -AllowUnsigned
        Start-TqWorker -Queue $signedQueue -Concurrency 1 -AsJob -SigningKey $keyring
    )
    $client = Join-Path (Get-RepoRoot) 'clients/python'
    $env:TQ_TEST_QUEUE = $queue
    $env:TQ_TEST_SIGNED_QUEUE = $signedQueue
    $env:TQ_TEST_KEYRING = $keyring
    $env:TQ_TEST_SCRIPTS = Join-Path (Get-RepoRoot) 'src/TaskQueue.Core/Scripts'
    $env:TQ_TEST_REDIS = Get-TestRedis
}

AfterAll {
    $workers | Stop-Job -PassThru | Remove-Job -Force
    Remove-TestQueue $queue; Remove-TestQueue $signedQueue; Remove-TestQueue "$queue-sharded"
    Remove-Item $keyring -ErrorAction Ignore
    foreach ($name in 'TQ_TEST_QUEUE', 'TQ_TEST_SIGNED_QUEUE', 'TQ_TEST_KEYRING', 'TQ_TEST_SCRIPTS') { Remove-Item "Env:$name" -ErrorAction Ignore }
}

Describe 'The Python client' {
    It 'has a Python with redis-py to run with' {
        $python | Should -Not -BeNullOrEmpty -Because 'the build installs python3-redis from Debian''s packages (as root)'
    }

    It '<Case>' -ForEach $cases {
        $python | Should -Not -BeNullOrEmpty
        Push-Location $client
        try { $output = & $python -m unittest "tests.test_client.ClientTests.$Case" 2>&1 }
        finally { Pop-Location }
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
    }
}
