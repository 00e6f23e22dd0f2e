# cordon memory acquisition for Windows (collector type aws_ssm_memory),
# run as SYSTEM by SSM Run Command (AWS-RunPowerShellScript), in the modes
# of acquire.sh:
#
#   capture  downloads the acquisition tool (WinPmem) by a presigned GET
#            URL, refuses to run it unless its SHA-256 is the pinned one,
#            checks that a local disk has room for an image of the
#            instance's memory, captures a raw image into a private work
#            directory there and prints its size and SHA-256 (WinPmem does
#            not compress, so a memory over the 5 GiB one PUT uploads is
#            refused before the tool is downloaded);
#   upload   uploads that image by a presigned PUT URL, whose signature
#            binds the size and SHA-256 that capture printed, streaming it
#            from disk, then deletes the work directory;
#   cleanup  deletes the work directory.
#
# It writes nothing outside its work directory (cordon-memory.XXXXXXXX at
# the root of a fixed disk, readable by SYSTEM and Administrators only),
# and a failed capture or any upload deletes it; a detached process deletes
# it ReapAfter seconds after capture in case cordon never comes back. It
# prints one line of JSON, as acquire.sh does, and exits 0 when the status
# is captured, uploaded or cleaned, 1 otherwise.

# --- settings (the collector sets these) ---
$Mode = 'capture'
$ToolUrl = ''
$ToolSha256 = ''
$Work = ''
$ImageSize = '0'
$ImageChecksum = ''
$UploadUrl = ''
$ReapAfter = '1800'
# --- end of settings ---

$MaxImage = [int64]5368709120
$Margin = [int64]268435456
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$NumericFields = @('size', 'mem_total', 'need', 'free', 'http_status', 'exit_code', 'started_at', 'finished_at')
$script:RemoveOnFail = $false

function Safe([string]$s) {
    $s = $s -replace '[^A-Za-z0-9 ._:/+=,@()\\-]', ''
    if ($s.Length -gt 200) { $s = $s.Substring(0, 200) }
    return $s
}

function Result([string]$Status, $Fields) {
    $o = [ordered]@{ cordon_memory = 1; phase = (Safe $Mode); status = $Status }
    if ($Fields) {
        foreach ($k in $Fields.Keys) {
            if ($NumericFields -contains $k) {
                $n = [int64]0
                if ([int64]::TryParse([string]$Fields[$k], [ref]$n)) { $o[$k] = $n } else { $o[$k] = [int64]0 }
            } else {
                $o[$k] = Safe ([string]$Fields[$k])
            }
        }
    }
    [Console]::Out.WriteLine(($o | ConvertTo-Json -Compress))
}

function WorkOK {
    if ($script:Work -notmatch '^[A-Za-z]:\\cordon-memory\.[a-z0-9]{8}$') { return $false }
    if (-not (Test-Path -LiteralPath $script:Work -PathType Container)) { return $false }
    $item = Get-Item -LiteralPath $script:Work -Force
    return -not ($item.Attributes -band [IO.FileAttributes]::ReparsePoint)
}

function RemoveWork {
    if (WorkOK) { Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue }
}

function Fail([string]$Status, $Fields) {
    Result $Status $Fields
    if ($script:RemoveOnFail) { RemoveWork }
    exit 1
}

function Now { return [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() }

function Capture {
    $identity = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
    if (-not $identity.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) { Fail 'not_root' $null }
    if ($ToolSha256 -cnotmatch '^[0-9a-f]{64}$') { Fail 'bad_settings' ([ordered]@{ message = 'ToolSha256 is not a lower-case hex SHA-256' }) }
    $reap = 0
    if (-not [int]::TryParse($ReapAfter, [ref]$reap)) { Fail 'bad_settings' ([ordered]@{ message = 'ReapAfter is not a number of seconds' }) }

    $mem = [int64](Get-CimInstance Win32_ComputerSystem).TotalPhysicalMemory
    # WinPmem does not compress, so the image is as large as the memory:
    # one over what a single PUT uploads is refused before anything is
    # downloaded (acquire.sh, whose AVML compresses, checks the image).
    if ($mem -gt $MaxImage) { Fail 'too_large' ([ordered]@{ mem_total = $mem; need = $mem }) }
    $need = $mem + [int64]($mem / 20) + $Margin

    # Fixed disks, the system drive last: instance store volumes first.
    $system = $env:SystemDrive
    $disks = @(Get-CimInstance Win32_LogicalDisk -Filter 'DriveType=3' | Sort-Object { $_.DeviceID -eq $system }, DeviceID)
    $bestFree = [int64]0
    $bestDir = ''
    foreach ($d in $disks) {
        $free = [int64]$d.FreeSpace
        if ($free -gt $bestFree) { $bestFree = $free; $bestDir = $d.DeviceID + '\' }
        if ($free -ge $need) {
            $name = 'cordon-memory.' + ([IO.Path]::GetRandomFileName() -replace '[^a-z0-9]', '').Substring(0, 8)
            $script:Work = Join-Path ($d.DeviceID + '\') $name
            New-Item -ItemType Directory -Path $script:Work | Out-Null
            # SYSTEM and Administrators only, nothing inherited.
            & icacls.exe $script:Work /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' | Out-Null
            break
        }
    }
    if (-not $script:Work) { Fail 'insufficient_space' ([ordered]@{ need = $need; free = $bestFree; dir = $bestDir; mem_total = $mem }) }
    $script:RemoveOnFail = $true
    $command = "Start-Sleep -Seconds $reap; Remove-Item -LiteralPath '$($script:Work)' -Recurse -Force -ErrorAction SilentlyContinue"
    Start-Process -FilePath 'powershell.exe' -WindowStyle Hidden -ArgumentList @('-NoProfile', '-NonInteractive', '-Command', $command) | Out-Null

    $tool = Join-Path $script:Work 'tool.exe'
    try {
        Invoke-WebRequest -UseBasicParsing -Uri $ToolUrl -OutFile $tool -TimeoutSec 600
    } catch {
        $status = 0
        if ($_.Exception.Response) { $status = [int]$_.Exception.Response.StatusCode }
        Fail 'tool_download_failed' ([ordered]@{ http_status = $status; message = $_.Exception.Message })
    }
    $got = (Get-FileHash -Algorithm SHA256 -LiteralPath $tool).Hash.ToLowerInvariant()
    if ($got -ne $ToolSha256) {
        # Never run a binary that is not the pinned one.
        Remove-Item -LiteralPath $tool -Force
        Fail 'tool_hash_mismatch' ([ordered]@{ tool_sha256 = $got; pinned = $ToolSha256 })
    }

    $image = Join-Path $script:Work 'memory.raw'
    $started = Now
    $p = Start-Process -FilePath $tool -ArgumentList @("`"$image`"") -Wait -PassThru -NoNewWindow `
        -RedirectStandardOutput (Join-Path $script:Work 'tool.out') -RedirectStandardError (Join-Path $script:Work 'tool.err')
    Remove-Item -LiteralPath $tool -Force
    if ($p.ExitCode -ne 0) {
        $tail = ''
        try { $tail = (Get-Content -LiteralPath (Join-Path $script:Work 'tool.err') -Raw) } catch { }
        Fail 'tool_failed' ([ordered]@{ exit_code = $p.ExitCode; message = $tail })
    }
    if (-not (Test-Path -LiteralPath $image -PathType Leaf)) { Fail 'tool_failed' ([ordered]@{ exit_code = 0; message = 'the tool exited 0 but wrote no image' }) }
    $size = (Get-Item -LiteralPath $image).Length
    if ($size -gt $MaxImage) { Fail 'too_large' ([ordered]@{ size = $size; mem_total = $mem }) }
    $sha = (Get-FileHash -Algorithm SHA256 -LiteralPath $image).Hash.ToLowerInvariant()
    Remove-Item -LiteralPath (Join-Path $script:Work 'tool.out'), (Join-Path $script:Work 'tool.err') -Force -ErrorAction SilentlyContinue
    # The image waits for the upload command (or the reaper).
    Result 'captured' ([ordered]@{ work = $script:Work; image = $image; size = $size; sha256 = $sha; tool_sha256 = $got;
            mem_total = $mem; started_at = $started; finished_at = (Now) })
}

function Upload {
    if (-not (WorkOK)) { Fail 'image_missing' ([ordered]@{ message = 'the work directory of the capture is gone' }) }
    $script:RemoveOnFail = $true
    $image = Join-Path $script:Work 'memory.raw'
    if (-not (Test-Path -LiteralPath $image -PathType Leaf)) { Fail 'image_missing' ([ordered]@{ message = 'the image of the capture is gone' }) }
    $size = (Get-Item -LiteralPath $image).Length
    if ([string]$size -ne $ImageSize) { Fail 'image_changed' ([ordered]@{ size = $size }) }
    # Streamed from disk, never buffered; every header sent is one the URL
    # signed.
    $req = [Net.HttpWebRequest]::Create($UploadUrl)
    $req.Method = 'PUT'
    $req.ContentLength = $size
    $req.AllowWriteStreamBuffering = $false
    $req.SendChunked = $false
    $req.Timeout = 86400000
    $req.ReadWriteTimeout = 600000
    $req.Headers.Add('x-amz-checksum-sha256', $ImageChecksum)
    $req.Headers.Add('x-amz-sdk-checksum-algorithm', 'SHA256')
    $req.Headers.Add('If-None-Match', '*')
    try {
        $in = [IO.File]::OpenRead($image)
        try {
            $out = $req.GetRequestStream()
            try { $in.CopyTo($out, 1048576) } finally { $out.Close() }
        } finally { $in.Close() }
        $resp = $req.GetResponse()
        $status = [int]$resp.StatusCode
        $resp.Close()
    } catch [Net.WebException] {
        $resp = $_.Exception.Response
        if (-not $resp) { Fail 'upload_failed' ([ordered]@{ message = $_.Exception.Message }) }
        $status = [int]$resp.StatusCode
        $body = ''
        try { $body = (New-Object IO.StreamReader($resp.GetResponseStream())).ReadToEnd() } catch { }
        $code = ''
        if ($body -match '<Code>([A-Za-z0-9]+)</Code>') { $code = $Matches[1] }
        Fail 'upload_rejected' ([ordered]@{ http_status = $status; s3_code = $code })
    } catch {
        Fail 'upload_failed' ([ordered]@{ message = $_.Exception.Message })
    }
    RemoveWork
    if ($status -ne 200) { Fail 'upload_rejected' ([ordered]@{ http_status = $status }) }
    Result 'uploaded' ([ordered]@{ http_status = $status; size = $size })
}

switch ($Mode) {
    'capture' { Capture }
    'upload' { Upload }
    'cleanup' { RemoveWork; Result 'cleaned' $null }
    default { Fail 'bad_settings' ([ordered]@{ message = 'Mode is not capture, upload or cleanup' }) }
}
exit 0
