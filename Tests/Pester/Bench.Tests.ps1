# The benchmark is not a test (timings on shared machines swing), but its smoke run is: it keeps build.ps1 bench working.
Describe 'build.ps1 bench -Quick' {
    BeforeAll {
        $out = Join-Path ([IO.Path]::GetTempPath()) "tq-bench-smoke-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        $figures = & (Join-Path $PSScriptRoot '../../tools/Bench.ps1') -Quick -OutputDirectory $out
    }
    AfterAll { Remove-Item -Recurse -Force $out -ErrorAction Ignore }

    It 'measures every case' {
        foreach ($name in 'ceiling.lpush.P64', 'enqueue.bulk', 'enqueue.piped', 'process.c1', 'process.c4', 'raw.function.c2',
            'latency.p50', 'latency.p99', 'memory.pending', 'memory.success', 'process.signed.c2', 'process.dirty.c2', 'process.isolated.c2',
            'idle.q1', 'idle.q1000', 'flow.none', 'flow.wide', 'flow.one', 'flow.levels', 'replicas.w0.send', 'replicas.w1.send', 'replicas.w0.process', 'replicas.w1.process',
            'process.nocapture.c2', 'cpu.nocapture.c2', 'process.verbose100.c2', 'memory.logentry') {
            $figures.$name | Should -BeGreaterThan 0 -Because $name
        }
    }

    It 'writes BENCHMARKS.md and the chart' {
        $report = Get-Content -Raw (Join-Path $out 'BENCHMARKS.md')
        $report | Should -Match '## Targets'
        $report | Should -Match '### What each task starts from'
        $report | Should -Match '### Stream logs'
        $report | Should -Match '\| 4 \| [\d,]+ \|'
        [xml](Get-Content -Raw (Join-Path $out 'docs/bench-processing.svg')) | Should -Not -BeNullOrEmpty
    }
}
