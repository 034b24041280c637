@{
    RootModule           = 'out/TaskQueue/TaskQueue.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5f0f4d5e-8c1a-4e0b-9a57-2b3c7d1e6a90'
    Author               = 'TaskQueue contributors'
    Copyright            = '(c) TaskQueue contributors. MIT License.'
    Description          = 'A reliable task queue over Redis: send PowerShell work to other machines, run it in worker runspaces, and get success and failure records back.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Core', 'Desktop')
    FormatsToProcess     = @('out/TaskQueue/TaskQueue.Format.ps1xml')
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
        'Register-TqSchedule'
        'Get-TqSchedule'
        'Set-TqSchedule'
        'Unregister-TqSchedule'
        'Enable-TqSchedule'
        'Disable-TqSchedule'
        'Start-TqDashboard'
    )
    AliasesToExport      = @('Retry-TqTask')
    FunctionsToExport    = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Redis', 'Queue', 'Tasks', 'Jobs', 'Automation')
            ProjectUri = 'https://example.invalid/taskqueue'
        }
    }
}
