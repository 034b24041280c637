@{
    # Paths into out/TaskQueue/<ModuleVersion>/, checked by build.ps1, which writes the built module's own manifest there.
    RootModule           = 'out/TaskQueue/0.3.0/TaskQueue.dll'
    # Loaded first: it points the engine's assemblies at the dependencies folder before PowerShell reads the cmdlets.
    NestedModules        = @('out/TaskQueue/0.3.0/TaskQueue.Loading.dll')
    ModuleVersion        = '0.3.0'
    GUID                 = '5f0f4d5e-8c1a-4e0b-9a57-2b3c7d1e6a90'
    Author               = 'TaskQueue contributors'
    Copyright            = '(c) TaskQueue contributors. MIT License.'
    Description          = 'A reliable task queue over Redis: send PowerShell work to other machines, run it in worker runspaces, and get success and failure records back.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Core', 'Desktop')
    FormatsToProcess     = @('out/TaskQueue/0.3.0/TaskQueue.Format.ps1xml')
    CmdletsToExport      = @(
        'Send-TqTask'
        'Start-TqWorker'
        'Get-TqQueue'
        'Get-TqWorker'
        'Get-TqTask'
        'Get-TqResult'
        'Get-TqFailure'
        'Restart-TqTask'
        'Stop-TqTask'
        'Remove-TqTask'
        'Wait-TqTask'
        'Get-TqTaskLog'
        'Receive-TqTask'
        'Set-TqQueue'
        'Suspend-TqQueue'
        'Resume-TqQueue'
        'Remove-TqQueue'
        'Register-TqSchedule'
        'Get-TqSchedule'
        'Set-TqSchedule'
        'Unregister-TqSchedule'
        'Enable-TqSchedule'
        'Disable-TqSchedule'
        'Start-TqDashboard'
        'New-TqSigningKey'
    )
    AliasesToExport      = @('Retry-TqTask')
    FunctionsToExport    = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Redis', 'Queue', 'TaskQueue', 'Tasks', 'Jobs', 'Worker', 'Scheduler', 'Cron', 'Automation', 'PSEdition_Core', 'PSEdition_Desktop', 'Linux', 'Windows', 'MacOS')
            ProjectUri   = 'https://example.invalid/taskqueue'
            LicenseUri   = 'https://example.invalid/taskqueue/blob/main/LICENSE'
            ReleaseNotes = 'Installs by name from a PowerShell repository (Install-PSResource TaskQueue); the engine and its dependencies load into a context of their own on PowerShell 7, beside modules that ship other versions of StackExchange.Redis. The whole list: CHANGELOG.md.'
        }
    }
}
