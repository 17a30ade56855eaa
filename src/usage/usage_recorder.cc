#include "usage/usage_recorder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include <spdlog/spdlog.h>

#include "usage/usage_thread_log.h"

namespace tollgate {
namespace {

// Ids tell recorders apart in a thread's slot even when a new recorder reuses a freed one's
// address (tests make many). The one process-wide mutable: an id source, never reset.
std::atomic<std::uint64_t> next_recorder_id{1};

struct LocalSlot {
  std::uint64_t recorder_id = 0;
  void* buffer = nullptr;  // the UsageRecorder::ThreadBuffer of recorder_id for this thread
};
thread_local LocalSlot local_slot;

Error SpillError(const std::string& path, std::string_view what) {
  return Error::Unavailable("usage spill file " + path + ": " + std::string(what) + ": " + std::strerror(errno));
}

// Writes all of text to fd, retrying short writes and EINTR.
bool WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// An fd closed on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

std::uint64_t Load(const std::atomic<std::uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

}  // namespace

// Cache lines of its own: two workers' buffers side by side would bounce lines between cores.
struct alignas(64) UsageRecorder::ThreadBuffer {
  UsageThreadLog log;
  std::uint64_t next_wake = 0;  // recording thread only: log.appended() that wakes the flusher
  std::thread::id owner;        // guarded by the recorder's registry_mutex_
};

Result<std::unique_ptr<UsageRecorder>> UsageRecorder::Start(UsageStore& store, UsageRecorderOptions options) {
  if (options.spill_path.empty()) return Fail(Error::InvalidInput("the usage recorder needs a spill file path"));
  if (options.flush_batch == 0) options.flush_batch = 1;
  if (options.flush_interval.count() <= 0) options.flush_interval = std::chrono::milliseconds(1);
  FileDescriptor file(::open(options.spill_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!file.ok()) return Fail(SpillError(options.spill_path, "cannot open for appending"));
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) return Fail(SpillError(options.spill_path, "cannot stat"));
  if (info.st_size > 0) {
    // A crash may have torn the last line; end it so the next append starts a line of its own.
    char last = '\n';
    if (::pread(file.get(), &last, 1, info.st_size - 1) != 1) return Fail(SpillError(options.spill_path, "cannot read"));
    if (last != '\n' && (!WriteAll(file.get(), "\n") || ::fsync(file.get()) != 0)) {
      return Fail(SpillError(options.spill_path, "cannot end its last line"));
    }
  }
  std::unique_ptr<UsageRecorder> recorder(new UsageRecorder(store, std::move(options)));
  recorder->spill_has_events_ = info.st_size > 0;
  // A spill left by an earlier run: its events are at least as old as this start.
  if (recorder->spill_has_events_) recorder->spill_oldest_at_ = SystemClock().NowMillis();
  recorder->flusher_ = std::thread([raw = recorder.get()] { raw->RunFlusher(); });
  return recorder;
}

UsageRecorder::UsageRecorder(UsageStore& store, UsageRecorderOptions options)
    : store_(store), options_(std::move(options)), id_(next_recorder_id.fetch_add(1, std::memory_order_relaxed)) {}

UsageRecorder::~UsageRecorder() {
  (void)Stop();
  // Events recorded after Stop() (there should be none).
  std::lock_guard lock(flush_mutex_);
  (void)FlushLocked(/*final=*/true);
}

UsageRecorder::ThreadBuffer& UsageRecorder::RegisterThisThread() {
  std::lock_guard lock(registry_mutex_);
  const std::thread::id me = std::this_thread::get_id();
  ThreadBuffer* buffer = nullptr;
  // A thread that recorded before (into another recorder in between) gets its own buffer back.
  // A new thread with the id of one that ended takes over the ended thread's buffer: fine, the
  // ended thread no longer writes to it.
  for (const auto& candidate : buffers_) {
    if (candidate->owner == me) buffer = candidate.get();
  }
  if (buffer == nullptr) {
    buffers_.push_back(std::make_unique<ThreadBuffer>());
    buffer = buffers_.back().get();
    buffer->owner = me;
    buffer->next_wake = options_.flush_batch;
  }
  local_slot = {id_, buffer};
  return *buffer;
}

void UsageRecorder::Record(const UsageEventView& event) {
  ThreadBuffer& buffer =
      local_slot.recorder_id == id_ ? *static_cast<ThreadBuffer*>(local_slot.buffer) : RegisterThisThread();
  buffer.log.Append(event);
  if (buffer.log.appended() >= buffer.next_wake) {
    buffer.next_wake += options_.flush_batch;
    // Once per batch: the wake-up's mutex is worth not losing the signal.
    {
      std::lock_guard lock(wake_mutex_);
      wake_requested_ = true;
    }
    wake_.notify_one();
  }
}

void UsageRecorder::RunFlusher() {
  bool failing = false;  // logged once per outage, not once per flush
  while (true) {
    {
      std::lock_guard lock(flush_mutex_);
      // Failures are counted; the policy keeps the events (memory, then the spill file).
      const Status flushed = FlushLocked(/*final=*/false);
      if (!flushed && !failing) {
        spdlog::warn("usage: writing usage events failed, keeping them until the store answers: {}",
                     flushed.error().detail);
      } else if (flushed && failing) {
        spdlog::info("usage: writing usage events again");
      }
      failing = !flushed;
    }
    std::unique_lock lock(wake_mutex_);
    wake_.wait_for(lock, options_.flush_interval, [this] { return wake_requested_ || stopping_; });
    if (stopping_) return;
    wake_requested_ = false;
  }
}

Status UsageRecorder::Flush() {
  std::lock_guard lock(flush_mutex_);
  return FlushLocked(/*final=*/false);
}

Status UsageRecorder::Stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard lock(wake_mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (flusher_.joinable()) flusher_.join();
    std::lock_guard lock(flush_mutex_);
    stop_status_ = FlushLocked(/*final=*/true);
  });
  return stop_status_;
}

void UsageRecorder::DrainBuffers() {
  std::lock_guard registry(registry_mutex_);
  for (const auto& buffer : buffers_) buffer->log.Drain(pending_);
}

Status UsageRecorder::WritePending() {
  std::size_t written = 0;
  Status status;
  while (written < pending_.size()) {
    const std::size_t count = std::min(std::max<std::size_t>(options_.flush_batch, 1), pending_.size() - written);
    if (auto chunk = store_.WriteUsage(std::span<const UsageEvent>(pending_).subspan(written, count)); !chunk) {
      status = std::move(chunk);
      break;
    }
    written += count;
  }
  if (written > 0) {
    flushed_.fetch_add(written, std::memory_order_relaxed);
    flushed_from_memory_.fetch_add(written, std::memory_order_release);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(written));
  }
  return status;
}

Status UsageRecorder::FlushLocked(bool final) {
  const auto started = std::chrono::steady_clock::now();
  DrainBuffers();
  Status status;
  bool wrote = false;
  if (!pending_.empty()) {
    wrote = true;
    if (auto written = WritePending(); written) {
      if (pending_.capacity() > 4 * options_.flush_batch) pending_.shrink_to_fit();  // after an outage
    } else {
      store_failures_.fetch_add(1, std::memory_order_relaxed);
      status = std::move(written);
      const std::size_t keep = final ? 0 : options_.max_buffered;
      if (pending_.size() > keep) {
        if (auto spilled = SpillPending(pending_.size() - keep); !spilled) {
          status.error().detail += "; and " + spilled.error().detail;
        }
      }
    }
  }
  if (status && spill_has_events_) {
    wrote = true;
    status = ReplaySpill();
  }
  if (wrote) {
    const auto took = std::chrono::steady_clock::now() - started;
    last_flush_micros_.store(std::chrono::duration_cast<std::chrono::microseconds>(took).count(),
                             std::memory_order_relaxed);
    if (options_.flush_duration != nullptr) options_.flush_duration->Observe(std::chrono::duration<double>(took).count());
  }
  // Drained in thread order, each thread's events oldest first: the front is close enough to the
  // oldest for a lag measured in seconds.
  UnixMillis oldest = spill_has_events_ ? spill_oldest_at_ : 0;
  if (!pending_.empty() && (oldest == 0 || pending_.front().at < oldest)) oldest = pending_.front().at;
  oldest_unwritten_at_.store(oldest, std::memory_order_relaxed);
  if (final) {
    // Stop's promise: everything is in the store or on disk. A spill file still waiting for its
    // replay is not a loss.
    if (pending_.empty()) return {};
    return Fail(Error::Unavailable(std::to_string(pending_.size()) +
                                   " usage events could be written neither to the store nor to the spill file: " +
                                   (status ? std::string("unknown error") : status.error().detail)));
  }
  return status;
}

Status UsageRecorder::SpillPending(std::size_t count) {
  std::string text;
  text.reserve(count * 256);
  for (std::size_t i = 0; i < count; ++i) {
    text += UsageEventToJsonLine(pending_[i]);
    text += '\n';
  }
  const std::string& path = options_.spill_path;
  FileDescriptor file(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!file.ok()) return Fail(SpillError(path, "cannot open for appending"));
  const off_t before = ::lseek(file.get(), 0, SEEK_END);
  if (before < 0 || !WriteAll(file.get(), text) || ::fsync(file.get()) != 0) {
    Error error = SpillError(path, "cannot append");
    // Take back a partial append: the events stay in memory, so they must not also be on disk.
    if (before >= 0) (void)::ftruncate(file.get(), before);
    return Fail(std::move(error));
  }
  if (!spill_has_events_ && count > 0) spill_oldest_at_ = pending_.front().at;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
  spilled_.fetch_add(count, std::memory_order_release);
  spill_has_events_ = true;
  return {};
}

Status UsageRecorder::ReplaySpill() {
  const std::string& path = options_.spill_path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(SpillError(path, "cannot open for reading"));
  std::vector<UsageEvent> chunk;
  std::uint64_t skipped = 0;        // unreadable lines since written_through
  std::uint64_t consumed = 0;       // bytes of the file read so far
  std::uint64_t written_through = 0;  // bytes whose events are in the store
  auto write_chunk = [&]() -> Status {
    if (!chunk.empty()) {
      if (auto written = store_.WriteUsage(chunk); !written) {
        store_failures_.fetch_add(1, std::memory_order_relaxed);
        return written;
      }
      flushed_.fetch_add(chunk.size(), std::memory_order_relaxed);
      replayed_.fetch_add(chunk.size(), std::memory_order_relaxed);
      chunk.clear();
    }
    written_through = consumed;
    spill_lines_skipped_.fetch_add(skipped, std::memory_order_relaxed);  // gone from the file now
    skipped = 0;
    return {};
  };
  // A failed chunk leaves exactly the lines after written_through in the file.
  auto keep_tail = [&](Status failure) -> Status {
    in.close();
    if (written_through == 0) return failure;
    std::ifstream source(path, std::ios::binary);
    source.seekg(static_cast<std::streamoff>(written_through));
    const std::string tail((std::istreambuf_iterator<char>(source)), std::istreambuf_iterator<char>());
    const std::string temporary = path + ".tmp";
    FileDescriptor out(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out.ok() || !WriteAll(out.get(), tail) || ::fsync(out.get()) != 0 ||
        ::rename(temporary.c_str(), path.c_str()) != 0) {
      // The events of the written chunks are in the store AND the file: they would be written twice.
      failure.error().detail += "; " + SpillError(temporary, "cannot rewrite the rest of the spill file").detail;
    }
    return failure;
  };

  std::string line;
  // Unreadable (torn) lines are counted once they are gone for good: a replay that fails keeps
  // them in the file, and the next replay meets them again.
  while (std::getline(in, line)) {
    consumed += line.size() + 1;
    if (line.empty()) continue;
    auto event = UsageEventFromJsonLine(line);
    if (!event) {
      ++skipped;
      continue;
    }
    chunk.push_back(std::move(*event));
    if (chunk.size() >= options_.flush_batch) {
      if (auto written = write_chunk(); !written) return keep_tail(std::move(written));
    }
  }
  if (auto written = write_chunk(); !written) return keep_tail(std::move(written));
  in.close();
  FileDescriptor file(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!file.ok() || ::fsync(file.get()) != 0) return Fail(SpillError(path, "cannot truncate after replay"));
  spill_has_events_ = false;
  return {};
}

UsageCounters UsageRecorder::Counters() const {
  UsageCounters counters;
  // Read what leaves the buffers before what enters them, so buffered cannot go negative.
  const std::uint64_t from_memory = flushed_from_memory_.load(std::memory_order_acquire);
  counters.spilled = spilled_.load(std::memory_order_acquire);
  counters.flushed = Load(flushed_);
  counters.replayed = Load(replayed_);
  counters.store_failures = Load(store_failures_);
  counters.spill_lines_skipped = Load(spill_lines_skipped_);
  counters.last_flush_micros = last_flush_micros_.load(std::memory_order_relaxed);
  counters.oldest_unwritten_at = oldest_unwritten_at_.load(std::memory_order_relaxed);
  std::error_code error;
  const auto size = std::filesystem::file_size(options_.spill_path, error);
  counters.spill_bytes = error ? 0 : size;
  {
    std::lock_guard lock(registry_mutex_);
    for (const auto& buffer : buffers_) counters.recorded += buffer->log.appended();
  }
  const std::uint64_t out = from_memory + counters.spilled;
  counters.buffered = counters.recorded > out ? counters.recorded - out : 0;
  return counters;
}

}  // namespace tollgate
