using System.Runtime.InteropServices;
using System.Security.Cryptography;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Agent.Tests.Updates;

public sealed class PartFileWriterTests : IDisposable
{
    private const int Block = PartFileWriter.Alignment;
    private readonly TempDir _dir = TestPaths.NewTempDir();
    private readonly byte[] _content = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 1234);

    private string PartPath => Path.Combine(_dir.Path, "artifact.part");

    [Fact]
    public void Aligned_chunks_go_past_the_page_cache_and_the_odd_ones_through_it_with_the_same_bytes_on_disk()
    {
        // Resumed at an odd offset: the first chunk ends on a block boundary, the middle ones are whole buffers, the
        // tail is what is left. The same order the downloader writes in.
        var head = 777_777;
        var firstEnd = (head / Block + 1) * Block;
        List<(int Offset, int Length)> chunks = [(0, head), (head, firstEnd - head), .. BufferChunks(firstEnd)];

        var writer = WriteAll(direct: true, chunks);

        Assert.True(writer.DirectRefusal is null, $"the test folder's filesystem refused O_DIRECT: {writer.DirectRefusal}");
        Assert.True(OperatingSystem.IsLinux(), "direct writes are a Linux path");
        var tail = chunks[^1].Length;
        Assert.NotEqual(0, tail % Block);
        Assert.Equal(head + (firstEnd - head) + tail, writer.BufferedBytes);
        Assert.Equal(_content.Length - writer.BufferedBytes, writer.DirectBytes);
        Assert.Equal(_content, File.ReadAllBytes(PartPath));
    }

    [Fact]
    public void With_direct_writes_off_every_byte_goes_through_the_page_cache()
    {
        var writer = WriteAll(direct: false, BufferChunks(0));

        Assert.Equal(0, writer.DirectBytes);
        Assert.Equal(_content.Length, writer.BufferedBytes);
        Assert.False(writer.DirectAvailable);
        Assert.Null(writer.DirectRefusal);
        Assert.Equal(_content, File.ReadAllBytes(PartPath));
    }

    [Fact]
    public void A_direct_write_the_kernel_refuses_is_written_through_the_page_cache_and_so_is_the_rest()
    {
        using var handle = File.OpenHandle(PartPath, FileMode.Create, FileAccess.ReadWrite);
        var writer = new PartFileWriter(handle, direct: true);
        // Offset and length are aligned, the memory is not: O_DIRECT refuses it (EINVAL), as a driver without direct
        // I/O refuses every direct write.
        var misaligned = new byte[Block + 1];
        _content.AsSpan(0, Block).CopyTo(misaligned.AsSpan(1));
        writer.Write(misaligned.AsMemory(1, Block), 0);

        var aligned = new AlignedBuffer(Block);
        _content.AsSpan(Block, Block).CopyTo(aligned.Memory.Span);
        writer.Write(aligned.Memory, Block);

        Assert.NotNull(writer.DirectRefusal);
        Assert.Contains("direct write failed", writer.DirectRefusal, StringComparison.Ordinal);
        Assert.False(writer.DirectAvailable);
        Assert.Equal(0, writer.DirectBytes);
        Assert.Equal(2 * Block, writer.BufferedBytes);
        handle.Close();
        Assert.Equal(_content.AsSpan(0, 2 * Block).ToArray(), File.ReadAllBytes(PartPath));
    }

    [Fact]
    public void An_aligned_buffer_starts_on_a_block_boundary_and_has_the_length_asked_for()
    {
        for (var i = 0; i < 20; i++)
        {
            var buffer = new AlignedBuffer(1024 * 1024 + i);
            Assert.Equal(1024 * 1024 + i, buffer.Memory.Length);
            Assert.True(MemoryMarshal.TryGetArray<byte>(buffer.Memory, out var segment));
            Assert.Equal(0, Marshal.UnsafeAddrOfPinnedArrayElement(segment.Array!, segment.Offset) % Block);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => new AlignedBuffer(0));
    }

    [Theory]
    [InlineData(0L, null)]
    [InlineData(300_000L, null)]
    [InlineData(777_777L, 868_000_000L)]
    [InlineData(5L, 10_000L)]
    [InlineData(1_048_576L, 2_109_497L)]
    public void Each_fill_ends_on_a_block_boundary_within_one_buffer(long offset, long? total)
    {
        var chunk = 1024 * 1024;

        var length = Downloader.FillTarget(offset, total, chunk);

        Assert.InRange(length, 1, chunk);
        Assert.Equal(0, (offset + length) % Block);
    }

    [Fact]
    public void Fills_end_on_block_boundaries_for_any_offset_size_and_rate_capped_chunk()
    {
        var random = new Random(7);
        for (var i = 0; i < 10_000; i++)
        {
            var total = random.NextInt64(1, 2_000_000_000);
            var offset = random.NextInt64(0, total);
            var chunk = random.Next(Block, 1024 * 1024 + 1);

            var length = Downloader.FillTarget(offset, total, chunk);

            Assert.InRange(length, 1, chunk);
            Assert.True((offset + length) % Block == 0, $"offset {offset}, total {total}, chunk {chunk}: fill {length}");
            // Progress still moves by whole buffers or whole percents, not by slivers.
            Assert.True(length >= Math.Min(64 * 1024, chunk) - Block, $"offset {offset}, total {total}, chunk {chunk}: fill {length}");
        }
    }

    [Fact]
    public void Buffered_writes_stream_to_the_device_behind_the_writer_and_leave_the_page_cache()
    {
        Assert.True(OperatingSystem.IsLinux(), "the writeback is a Linux path");
        const int chunk = 1024 * 1024;
        var content = RandomNumberGenerator.GetBytes(5 * PartFileWriter.WritebackBytes);
        PartFileWriter writer;
        using (var handle = File.OpenHandle(PartPath, FileMode.Create, FileAccess.ReadWrite))
        {
            writer = new PartFileWriter(handle, direct: false);
            for (var offset = 0; offset < content.Length; offset += chunk)
            {
                writer.Write(content.AsMemory(offset, chunk), offset);
            }
        }

        // Five ranges: each one's writeback started when it was full, and each but the last waited for (when the next one
        // started) and dropped.
        Assert.Null(writer.WritebackRefusal);
        Assert.Equal(4L * PartFileWriter.WritebackBytes, writer.WrittenBackBytes);
        Assert.Equal(content.Length, writer.BufferedBytes);
        var dropped = ResidentFraction(PartPath, 0, 4 * PartFileWriter.WritebackBytes);
        Assert.True(dropped < 0.1, $"{dropped:P0} of the written-back range is still in the page cache");
        Assert.Equal(content, File.ReadAllBytes(PartPath));
    }

    [Fact]
    public void While_a_flush_is_in_flight_writeback_is_neither_started_nor_waited_for_up_to_the_bound()
    {
        Assert.True(OperatingSystem.IsLinux(), "the writeback is a Linux path");
        const int chunk = 1024 * 1024;
        const int range = PartFileWriter.WritebackBytes;
        var content = RandomNumberGenerator.GetBytes(7 * range);
        PartFileWriter writer;
        using (var handle = File.OpenHandle(PartPath, FileMode.Create, FileAccess.ReadWrite))
        {
            writer = new PartFileWriter(handle, direct: false, maxHeldBytes: 3L * range) { FlushInFlight = true };
            void WriteUpTo(long from, long to)
            {
                for (var offset = from; offset < to; offset += chunk)
                {
                    writer.Write(content.AsMemory((int)offset, chunk), offset);
                }
            }

            // Three ranges, the bound: every write from the first whole range on is held, and all of it stays dirty in the
            // page cache, its writeback not even started.
            WriteUpTo(0, 3L * range);
            Assert.Equal((3 * range / chunk) - (range / chunk) + 1, writer.WritesHeld);
            Assert.Equal(0, writer.WrittenBackBytes);
            if (DirtyBytes(handle, 0, 3L * range) is { } dirty)
            {
                Assert.True(dirty >= 0.9 * 3 * range, $"only {dirty} of {3 * range} held bytes are still dirty: their writeback was started");
            }

            // Past the bound the writer starts and waits for writeback even while the flush runs: the memory stays bounded.
            WriteUpTo(3L * range, 5L * range);
            Assert.InRange(writer.WrittenBackBytes, 3L * range, 4L * range);

            // The flush is done: from here every range waits for the one before it and drops it.
            writer.FlushInFlight = false;
            var held = writer.WritesHeld;
            WriteUpTo(5L * range, 7L * range);
            Assert.Equal(held, writer.WritesHeld);
        }

        Assert.InRange(writer.WrittenBackBytes, 5L * range, 6L * range);
        var dropped = ResidentFraction(PartPath, 0, writer.WrittenBackBytes);
        Assert.True(dropped < 0.1, $"{dropped:P0} of the written-back ranges is still in the page cache");
        Assert.Equal(content, File.ReadAllBytes(PartPath));
    }

    [Fact]
    public void On_an_artifact_whose_percent_is_larger_than_a_buffer_every_fill_but_the_tail_is_a_whole_buffer()
    {
        const int chunk = 2 * 1024 * 1024;
        const long total = 868_040_704;
        var fills = new List<int>();
        for (var offset = 0L; offset < total; offset += fills[^1])
        {
            fills.Add(Downloader.FillTarget(offset, total, chunk));
        }

        Assert.All(fills[..^1], fill => Assert.Equal(chunk, fill));
        // The last asks for a whole buffer too; the body ends at the artifact's size.
        Assert.True(fills.Sum(fill => (long)fill) >= total);
    }

    [Fact]
    public void A_file_that_refuses_sync_file_range_is_still_written_and_says_why()
    {
        // /dev/null takes any write and refuses sync_file_range (ESPIPE), as a pipe or an odd filesystem would.
        using var handle = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Write);
        var writer = new PartFileWriter(handle, direct: false);
        var chunk = new byte[1024 * 1024];
        for (var i = 0; i < 3 * PartFileWriter.WritebackBytes / chunk.Length; i++)
        {
            writer.Write(chunk, (long)i * chunk.Length);
        }

        Assert.Contains("sync_file_range refused", writer.WritebackRefusal, StringComparison.Ordinal);
        Assert.Equal(0, writer.WrittenBackBytes);
        Assert.Equal(3L * PartFileWriter.WritebackBytes, writer.BufferedBytes);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>The share of the pages of [offset, offset + length) of the file that are in the page cache (mincore).</summary>
    private static unsafe double ResidentFraction(string path, long offset, long length)
    {
        using var map = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
        using var view = map.CreateViewAccessor(offset, length, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        try
        {
            var pages = new byte[(length + Environment.SystemPageSize - 1) / Environment.SystemPageSize];
            fixed (byte* vector = pages)
            {
                Assert.Equal(0, Mincore(start + view.PointerOffset, (nuint)length, vector));
            }

            return pages.Count(p => (p & 1) != 0) / (double)pages.Length;
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    [DllImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static extern unsafe int Mincore(void* address, nuint length, byte* vector);

    private List<(int Offset, int Length)> BufferChunks(int start)
    {
        var chunks = new List<(int Offset, int Length)>();
        for (var offset = start; offset < _content.Length; offset += 1024 * 1024)
        {
            chunks.Add((offset, Math.Min(1024 * 1024, _content.Length - offset)));
        }

        return chunks;
    }

    private PartFileWriter WriteAll(bool direct, IReadOnlyList<(int Offset, int Length)> chunks)
    {
        using var handle = File.OpenHandle(PartPath, FileMode.Create, FileAccess.ReadWrite);
        var writer = new PartFileWriter(handle, direct);
        var buffer = new AlignedBuffer(1024 * 1024);
        foreach (var (offset, length) in chunks)
        {
            _content.AsSpan(offset, length).CopyTo(buffer.Memory.Span);
            writer.Write(buffer.Memory[..length], offset);
        }

        return writer;
    }

    /// <summary>
    /// Dirty bytes of the file in [offset, offset + length) from <c>cachestat</c> (Linux 6.5); null on an older kernel,
    /// where the test checks the writer's counters only.
    /// </summary>
    private static long? DirtyBytes(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, long length)
    {
        var span = new CachestatRange { Offset = (ulong)offset, Length = (ulong)length };
        var fd = (int)handle.DangerousGetHandle();
        if (Syscall(CachestatSyscall, fd, ref span, out var stat, 0) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Assert.True(errno == 38, $"cachestat failed with errno {errno}");
            return null;
        }

        return (long)stat.Dirty * Environment.SystemPageSize;
    }

    // The same number on x86-64 and AArch64 (the generic table).
    private const long CachestatSyscall = 451;

    [StructLayout(LayoutKind.Sequential)]
    private struct CachestatRange
    {
        public ulong Offset;
        public ulong Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Cachestat
    {
        public ulong Cache;
        public ulong Dirty;
        public ulong Writeback;
        public ulong Evicted;
        public ulong RecentlyEvicted;
    }

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long Syscall(long number, int fd, ref CachestatRange range, out Cachestat stat, uint flags);
}
