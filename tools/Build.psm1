# Helpers of build.ps1, one file per concern under tools/build: the installers of tools, private Redis servers, test
# result counts, and the help compiler.
Set-StrictMode -Version Latest

foreach ($part in 'Installers', 'Servers', 'TestResults', 'Help', 'Releases') { . (Join-Path $PSScriptRoot "build/$part.ps1") }

function Write-Step([string] $Message) {
    Write-Host "==> $Message"
}

function Invoke-Native {
    # Runs a native command and stops the build when it fails.
    $command, $arguments = $args
    & $command @arguments
    if ($LASTEXITCODE -ne 0) { throw "'$command $($arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

Export-ModuleMember -Function Write-Step, Get-PreviousRelease, Build-GitCommit, Invoke-Native, Install-Pester, Find-RedisServer, Install-RedisServer, Start-PrivateRedis, Start-PrivateRedisCluster, Stop-PrivateRedis, Restart-PrivateRedis, Read-TrxCounts, Get-CmdletMetadata, Convert-HelpToMaml, Get-FreeLoopbackPort, Send-RespCommand, Install-BrowserTools, Install-DebianPackage, Find-FakeTime, Find-PythonRedis, Resolve-Node, Get-NodeMajor
