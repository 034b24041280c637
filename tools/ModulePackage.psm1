# Helpers of build.ps1 that lay out the module folder and package it.
Set-StrictMode -Version Latest

# The assemblies PowerShell loads itself (the loader first, then the cmdlets); every other one is the engine's.
$script:ModuleRootFiles = @('TaskQueue.Loading.dll', 'TaskQueue.Loading.pdb', 'TaskQueue.dll', 'TaskQueue.pdb', 'TaskQueue.Format.ps1xml')

function Build-ModuleFolder([string] $Staging, [string] $Destination, [string] $Manifest, [string] $Version) {
    <# Lays out the built module: the loader, the cmdlets and their format file at the root; TaskQueue.Core and its
       dependencies in dependencies/, where TaskQueue.Loading points them (docs/INSTALL.md); the manifest with its
       paths relative to the folder. Throws when the repository's manifest points outside out/TaskQueue/<version>/. #>
    $prefix = "out/TaskQueue/$Version/"
    $data = Import-PowerShellDataFile $Manifest
    $paths = @($data.RootModule) + @($data.NestedModules) + @($data.FormatsToProcess)
    $stale = @($paths | Where-Object { -not $_.StartsWith($prefix) })
    if ($stale) { throw "$Manifest has ModuleVersion $Version but points at $($stale -join ', '): change those paths to $prefix..." }
    $dependencies = Join-Path $Destination 'dependencies'
    New-Item -ItemType Directory -Force -Path $dependencies | Out-Null
    foreach ($file in Get-ChildItem -Path $Staging -File) {
        if ($file.Name -in $script:ModuleRootFiles) { Copy-Item $file.FullName $Destination }
        elseif ($file.Extension -in '.dll', '.pdb') { Copy-Item $file.FullName $dependencies }
    }
    $missing = @($script:ModuleRootFiles | Where-Object { -not (Test-Path (Join-Path $Destination $_)) })
    if ($missing) { throw "The build did not produce $($missing -join ', ')." }
    # The built manifest: paths relative to its folder, and no comment about the repository's copy.
    $text = (Get-Content $Manifest -Raw) -replace [regex]::Escape($prefix), '' -replace '(?m)^\s*#.*out/TaskQueue.*\r?\n', ''
    Set-Content -Path (Join-Path $Destination 'TaskQueue.psd1') -Value $text -NoNewline
}

function Set-ModuleFileList([string] $ModuleFolder) {
    # Stamps FileList (every file of the module, relative to its folder) into the built manifest, then checks it.
    $manifest = Join-Path $ModuleFolder 'TaskQueue.psd1'
    $base = (Resolve-Path $ModuleFolder).Path.TrimEnd('/', '\') + [IO.Path]::DirectorySeparatorChar
    $files = @(Get-ChildItem -Path $ModuleFolder -File -Recurse | ForEach-Object { $_.FullName.Substring($base.Length).Replace('\', '/') } | Sort-Object)
    $list = ($files | ForEach-Object { "        '$_'" }) -join [Environment]::NewLine
    $text = (Get-Content $manifest -Raw) -replace '(?m)^(\s*)CmdletsToExport', "`$1FileList             = @(`n$list`n    )`n`$1CmdletsToExport"
    Set-Content -Path $manifest -Value $text -NoNewline
    $null = Test-ModuleManifest -Path $manifest -ErrorAction Stop
}

function New-ModulePackage([string] $ModuleFolder, [string] $Destination) {
    <# The .nupkg a PowerShell repository takes, made by PSResourceGet itself (Compress-PSResource validates the
       manifest as Publish-PSResource does). Returns its path. #>
    $manifest = Import-PowerShellDataFile (Join-Path $ModuleFolder 'TaskQueue.psd1')
    $null = Test-ModuleManifest -Path (Join-Path $ModuleFolder 'TaskQueue.psd1') -ErrorAction Stop
    New-Item -ItemType Directory -Force -Path $Destination | Out-Null
    $nupkg = Join-Path $Destination "TaskQueue.$($manifest.ModuleVersion).nupkg"
    Remove-Item $nupkg -ErrorAction Ignore
    Compress-PSResource -Path $ModuleFolder -DestinationPath $Destination
    if (-not (Test-Path $nupkg)) { throw "Compress-PSResource did not write $nupkg." }
    return $nupkg
}

Export-ModuleMember -Function Build-ModuleFolder, Set-ModuleFileList, New-ModulePackage
