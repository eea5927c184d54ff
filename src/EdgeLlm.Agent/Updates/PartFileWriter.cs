using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// Writes a download's chunks at their offsets into the part file, through the page cache with the written bytes
/// streamed out behind it (the default), or, with <c>direct</c>, past the page cache (Linux <c>O_DIRECT</c>) for every
/// chunk whose offset and length are multiples of <see cref="Alignment"/>.
/// </summary>
/// <remarks>
/// Why: a bundle is written once and read once (by the verifier), so keeping it in memory is pure cost. Left to the
/// kernel, hundreds of MB of dirty pages pile up, they go to the device only when the kernel gets to them, and the cache
/// evicts what the device does need, such as the active model's pages. So every <see cref="WritebackBytes"/> of
/// contiguous writes the kernel is told to start writing them out (<c>sync_file_range</c>), and the range before that is
/// waited for and dropped from the cache (<c>posix_fadvise DONTNEED</c>): at most two ranges are in memory (more
/// while an fsync runs, see <see cref="FlushInFlight"/>), the device gets many requests at once (as a copy's writeback
/// does), and the pages freed are the ones the next writes take, already touched. Measured against one direct write at
/// a time, which waits for each MiB on the device, the streamed writes took half the time (docs/benchmarks.md, "Model
/// updates"). Direct writes stay for devices where a page-cache copy costs more than the wait; the chunks that are not
/// aligned (the first after resuming at an odd offset, the artifact's tail) go through the page cache. A filesystem
/// that refuses <c>O_DIRECT</c> or <c>sync_file_range</c> gets plain buffered writes, switched over at the first
/// refusal; so does any OS but Linux. Durability still comes from the downloader's periodic fsync, which also covers the
/// file's size and extents.
/// </remarks>
internal sealed partial class PartFileWriter(SafeFileHandle file, bool direct, long maxHeldBytes = PartFileWriter.DefaultMaxHeldBytes)
{
    /// <summary>The range of contiguous buffered writes handed to the kernel's writeback at once: 8 MiB.</summary>
    public const int WritebackBytes = 8 * 1024 * 1024;

    /// <summary>
    /// How much written data may stay in the page cache, its writeback not waited for or not even started, while the
    /// file's fsync runs (<see cref="FlushInFlight"/>): 128 MiB, a flush of a few hundred milliseconds at the speed of a
    /// fast disk.
    /// </summary>
    public const long DefaultMaxHeldBytes = 128L * 1024 * 1024;

    private const uint WaitBefore = 1; // SYNC_FILE_RANGE_WAIT_BEFORE
    private const uint StartWrite = 2; // SYNC_FILE_RANGE_WRITE
    private const uint WaitAfter = 4; // SYNC_FILE_RANGE_WAIT_AFTER
    private const int DontNeed = 4; // POSIX_FADV_DONTNEED

    /// <summary>Offset, length and buffer alignment of direct writes: 4 KiB covers 512 B and 4 KiB logical blocks.</summary>
    public const int Alignment = 4096;

    private const int GetStatusFlags = 3; // F_GETFL
    private const int SetStatusFlags = 4; // F_SETFL

    // O_DIRECT differs between architectures: 0o40000 on x86 and most others, 0o200000 on ARM and AArch64.
    private static readonly int ODirect = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm or Architecture.Armv6 ? 0x10000 : 0x4000;

    private bool _directAllowed = direct && OperatingSystem.IsLinux();
    private bool _directOn;

    // Off the 64-bit Linux ABI (off_t of 64 bits in both calls) the kernel's own writeback does it.
    private bool _writeback = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    // [_pending, _pendingEnd): written, not yet handed to writeback; [_submitted, _pending): handed over, not yet waited
    // for. One range in flight (more while a flush is): two or three measured the same on the benchmark machine and hold
    // more page cache.
    private long _submitted = -1;
    private long _pending = -1;
    private long _pendingEnd = -1;

    private volatile bool _flushInFlight;

    /// <summary>
    /// Set by the downloader while an fsync of the file runs beside the writes. Meanwhile the writer neither starts nor
    /// waits for writeback (up to <c>maxHeldBytes</c>): its writes stay in the page cache. A device busy with a cache flush
    /// (a virtual disk that takes requests one at a time, an SD card) finishes no writeback until the flush is done, so
    /// waiting would stop the download for the whole flush; and even starting writeback blocks then, once the block
    /// layer's writeback throttling sees the flush's latency (measured: the writer asleep in <c>wbt_wait</c> under
    /// <c>sync_file_range</c>). The first range after the flush starts the writeback of everything held and waits for
    /// what was started before it; the range after that waits for the rest.
    /// </summary>
    public bool FlushInFlight
    {
        get => _flushInFlight;
        set => _flushInFlight = value;
    }

    /// <summary>Buffered writes after which writeback was put off because a flush was in flight.</summary>
    public int WritesHeld { get; private set; }

    /// <summary>Bytes written past the page cache so far.</summary>
    public long DirectBytes { get; private set; }

    /// <summary>Bytes written through the page cache so far.</summary>
    public long BufferedBytes { get; private set; }

    /// <summary>False once the filesystem refused a direct write (or direct writes were off from the start).</summary>
    public bool DirectAvailable => _directAllowed;

    /// <summary>Set when direct writes were refused and the writer switched to buffered ones: the reason, once.</summary>
    public string? DirectRefusal { get; private set; }

    /// <summary>Buffered bytes known to be on the device and dropped from the page cache so far.</summary>
    public long WrittenBackBytes { get; private set; }

    /// <summary>Set when the filesystem refused <c>sync_file_range</c> and writeback was left to the kernel: the reason, once.</summary>
    public string? WritebackRefusal { get; private set; }

    /// <summary>
    /// Writes <paramref name="bytes"/> at <paramref name="offset"/>. <paramref name="bytes"/> must start on an
    /// <see cref="Alignment"/> boundary in memory (an <see cref="AlignedBuffer"/>) for the direct path. One call at a
    /// time: the file's status flags are per writer.
    /// </summary>
    public void Write(ReadOnlyMemory<byte> bytes, long offset)
    {
        var aligned = bytes.Length > 0 && offset % Alignment == 0 && bytes.Length % Alignment == 0;
        if (_directAllowed && aligned && (_directOn || TrySwitch(true)))
        {
            try
            {
                RandomAccess.Write(file, bytes.Span, offset);
                DirectBytes += bytes.Length;
                return;
            }
            catch (IOException ex)
            {
                // The filesystem took the flag but not the write (EINVAL from a driver without direct I/O): this chunk and
                // the rest go through the page cache. A real I/O error fails again below and ends the attempt as before.
                Refuse($"a direct write failed: {ex.Message}");
            }
        }

        if (_directOn)
        {
            TrySwitch(false);
        }

        RandomAccess.Write(file, bytes.Span, offset);
        BufferedBytes += bytes.Length;
        StreamOut(offset, bytes.Length);
    }

    /// <summary>
    /// After a buffered write: once <see cref="WritebackBytes"/> of contiguous writes are waiting, starts their writeback,
    /// then waits for the ranges started before them and drops them from the page cache (neither while a flush is in
    /// flight, <see cref="FlushInFlight"/>). A write somewhere else (a resume at another offset) starts a new range; what was
    /// started before it is left to the kernel.
    /// </summary>
    /// <exception cref="IOException">The device failed the writeback of a range (EIO, ENOSPC): its bytes are not on disk.</exception>
    private void StreamOut(long offset, int length)
    {
        if (!_writeback || length == 0)
        {
            return;
        }

        if (offset != _pendingEnd)
        {
            (_submitted, _pending) = (offset, offset);
        }

        _pendingEnd = offset + length;
        if (_pendingEnd - _pending < WritebackBytes)
        {
            return;
        }

        if (FlushInFlight && _pendingEnd - _submitted <= maxHeldBytes)
        {
            WritesHeld++;
            return;
        }

        if (!Range(_pending, _pendingEnd - _pending, StartWrite))
        {
            return;
        }

        if (_pending > _submitted)
        {
            if (!Range(_submitted, _pending - _submitted, WaitBefore | StartWrite | WaitAfter))
            {
                return;
            }

            // Only clean pages are dropped, and these are: the wait above saw them written.
            _ = Fadvise(file, _submitted, _pending - _submitted, DontNeed);
            WrittenBackBytes += _pending - _submitted;
        }

        (_submitted, _pending) = (_pending, _pendingEnd);
    }

    private bool Range(long offset, long length, uint flags)
    {
        if (SyncFileRange(file, offset, length, flags) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno is 5 or 28)
        {
            // EIO, ENOSPC: the device did not take these bytes.
            throw new IOException($"writing back bytes {offset}-{offset + length - 1} of the part file failed (errno {errno})");
        }

        // EINVAL, ESPIPE, ENOSYS: not a file this call works on; the kernel writes it back on its own.
        _writeback = false;
        WritebackRefusal ??= $"sync_file_range refused (errno {errno})";
        return false;
    }

    private bool TrySwitch(bool on)
    {
        var flags = Fcntl(file, GetStatusFlags, 0);
        var wanted = on ? flags | ODirect : flags & ~ODirect;
        if (flags >= 0 && (wanted == flags || Fcntl(file, SetStatusFlags, wanted) == 0))
        {
            _directOn = on;
            return true;
        }

        if (on)
        {
            Refuse($"the filesystem refused O_DIRECT (errno {Marshal.GetLastPInvokeError()})");
        }

        return false;
    }

    private void Refuse(string reason)
    {
        _directAllowed = false;
        DirectRefusal ??= reason;
    }

    // fcntl is variadic in C; its third argument is an int for F_GETFL/F_SETFL, passed in the same register as a fixed
    // argument on x86-64 and AArch64 Linux.
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(SafeFileHandle file, int command, int argument);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(SafeFileHandle file, long offset, long length, uint flags);

    // Returns the error number rather than setting errno; advice only, so a failure changes nothing but memory use.
    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(SafeFileHandle file, long offset, long length, int advice);
}

/// <summary>A pinned byte buffer whose first byte sits on a <see cref="PartFileWriter.Alignment"/> boundary, as direct I/O needs.</summary>
internal sealed class AlignedBuffer
{
    private readonly byte[] _array;
    private readonly int _start;

    public AlignedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        // Pinned (the pinned object heap never moves it), so the alignment found here holds for the buffer's life.
        _array = GC.AllocateUninitializedArray<byte>(length + PartFileWriter.Alignment, pinned: true);
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
        _start = (int)((PartFileWriter.Alignment - (address % PartFileWriter.Alignment)) % PartFileWriter.Alignment);
        Length = length;
    }

    public int Length { get; }

    public Memory<byte> Memory => _array.AsMemory(_start, Length);
}
