# Earlier versions of the module, built from git: the bench's baseline (tools/bench/baseline.txt) and the previous
# release that the mixed-version tests run beside this tree (tools/previous-release.txt).

function Get-PreviousRelease([string] $Root) {
    # The previous release as tools/previous-release.txt names it: @{ Version; Commit } (tags may not travel with a clone).
    $line = Get-Content (Join-Path $Root 'tools/previous-release.txt') | Where-Object { $_ -match '^\s*[0-9]+\.[0-9]+\.[0-9]+\s+[0-9a-f]{7,40}\s*$' } | Select-Object -First 1
    if (-not $line) { throw "tools/previous-release.txt names no release ('<version> <commit>')." }
    $version, $commit = -split $line
    return [pscustomobject]@{ Version = $version; Commit = $commit }
}

function Build-GitCommit {
    # Builds the module of <Commit> with that commit's own build.ps1 in a temporary folder (kept between runs, rebuilt
    # only when missing) and returns the path of its manifest. Needs the commit in the clone's history.
    param([Parameter(Mandatory)] [string] $Root, [Parameter(Mandatory)] [string] $Commit)
    $full = (& git -C $Root rev-parse --verify --quiet "$Commit^{commit}")
    if ($LASTEXITCODE -or -not $full) { throw "Commit $Commit is not in the history of $Root (a shallow clone? fetch it with git fetch --unshallow)." }
    $full = "$full".Trim()
    $folder = Join-Path ([IO.Path]::GetTempPath()) "tq-baseline-$($full.Substring(0, 12))"
    if (-not (Test-Path (Join-Path $folder 'built.ok'))) {
        Remove-Item -Recurse -Force $folder -ErrorAction Ignore
        New-Item -ItemType Directory -Path $folder | Out-Null
        & git -C $Root archive --format=tar $full | & tar -x -C $folder
        if ($LASTEXITCODE) { throw "git archive of $full failed." }
        Write-Host "--- Building $($full.Substring(0, 7)) in $folder"
        $pwsh = @([Environment]::ProcessPath)
        if ([IO.Path]::GetFileNameWithoutExtension($pwsh[0]) -eq 'dotnet') { $pwsh += Join-Path $PSHOME 'pwsh.dll' }
        $output = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -File (Join-Path $folder 'build.ps1') 2>&1
        if ($LASTEXITCODE) { throw "Building $full failed: $($output -join "`n")" }
        Set-Content (Join-Path $folder 'built.ok') $full
    }
    return Join-Path $folder 'TaskQueue.psd1'
}
