@{
    RootModule        = 'OtherRedisModule.dll'
    ModuleVersion     = '1.0.0'
    GUID              = '0b9c3f0e-61a4-4f53-9d8e-2f1a7c5d4e21'
    Author            = 'TaskQueue tests'
    Description       = 'Loads StackExchange.Redis 2.8 beside TaskQueue (Install.Tests.ps1).'
    CmdletsToExport   = @('Test-OtherRedis')
    FunctionsToExport = @()
    AliasesToExport   = @()
    VariablesToExport = @()
}
