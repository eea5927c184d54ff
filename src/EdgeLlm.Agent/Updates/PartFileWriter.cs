using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// Writes a download's chunks at their offsets into the part file, bypassing the page cache (Linux <c>O_DIRECT</c>)
/// for every chunk whose offset and length are multiples of <see cref="Alignment"/>, and through the page cache for the
/// rest (the first chunk after resuming at an odd offset, the artifact's tail).
/// </summary>
/// <remarks>
/// Why: a bundle is written once and read once (by the verifier), so caching it is pure cost. Written through the page
/// cache, hundreds of MB of dirty pages pile up, the kernel copies every byte into them (on this project's benchmark VM
/// that copy into newly touched memory was the download's limit, docs/benchmarks.md), and the cache evicts what the
/// device does need, such as the active model's pages. A direct write goes from the aligned buffer to the device. The
/// part file stays a normal file: durability still comes from the downloader's periodic fsync, which also covers the
/// file's size and extents. A filesystem that refuses <c>O_DIRECT</c> (tmpfs on older kernels, some FUSE mounts) gets
/// buffered writes, switched over at the first refusal; so does any OS but Linux.
/// </remarks>
internal sealed partial class PartFileWriter(SafeFileHandle file, bool direct)
{
    /// <summary>Offset, length and buffer alignment of direct writes: 4 KiB covers 512 B and 4 KiB logical blocks.</summary>
    public const int Alignment = 4096;

    private const int GetStatusFlags = 3; // F_GETFL
    private const int SetStatusFlags = 4; // F_SETFL

    // O_DIRECT differs between architectures: 0o40000 on x86 and most others, 0o200000 on ARM and AArch64.
    private static readonly int ODirect = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm or Architecture.Armv6 ? 0x10000 : 0x4000;

    private bool _directAllowed = direct && OperatingSystem.IsLinux();
    private bool _directOn;

    /// <summary>Bytes written past the page cache so far.</summary>
    public long DirectBytes { get; private set; }

    /// <summary>Bytes written through the page cache so far.</summary>
    public long BufferedBytes { get; private set; }

    /// <summary>False once the filesystem refused a direct write (or direct writes were off from the start).</summary>
    public bool DirectAvailable => _directAllowed;

    /// <summary>Set when direct writes were refused and the writer switched to buffered ones: the reason, once.</summary>
    public string? DirectRefusal { get; private set; }

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
