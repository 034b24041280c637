# Compiles the Markdown help of en-US/ into MAML, checked against the cmdlets as compiled: every parameter set and parameter the cmdlet declares, and nothing else.
# Dot-sourced by tools/Build.psm1.

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
