// Following sshd's log: a file across rotation and truncation, a journalctl child, the
// follower thread; and what the key use tracker keeps of the events.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/sha256_fingerprint.h"
#include "node-agent/auth_log_follower.h"
#include "node-agent/journalctl_reader.h"
#include "node-agent/key_use_tracker.h"
#include "node-agent/log_file_tail.h"
#include "node-agent/proc_net_tcp.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

void Append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::app) << text;
}

struct Collector {
  std::vector<std::string> lines;
  std::function<void(absl::string_view)> fn() {
    return [this](absl::string_view l) { lines.emplace_back(l); };
  }
};

class LogFileTailTest : public ::testing::Test {
 protected:
  testing::ScopedTempDir dir_{"keyfleet-tail"};
  std::string path_ = (dir_.path() / "auth.log").string();
};

TEST_F(LogFileTailTest, StartsAtTheEndAndDeliversAppendedCompleteLines) {
  Append(path_, "old line\n");
  LogFileTail tail(path_, {});
  Collector c;
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines, IsEmpty());
  Append(path_, "one\ntwo\npart");
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines, ElementsAre("one", "two"));
  // The partial line waits for its newline, and a restart would read it again.
  EXPECT_EQ(tail.position()->offset, std::string("old line\none\ntwo\n").size());
  Append(path_, "ial\n");
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines, ElementsAre("one", "two", "partial"));
}

TEST_F(LogFileTailTest, FollowsRotationByRename) {
  Append(path_, "");
  LogFileTail tail(path_, {});
  Collector c;
  tail.Poll(c.fn());
  Append(path_, "before\nunfinished");
  ASSERT_EQ(rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  Append(path_ + ".1", " still old\n");  // the writer still had the old file open
  Append(path_, "new file\n");
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines, ElementsAre("before", "unfinished still old", "new file"));
  EXPECT_EQ(tail.counters().rotations, 1u);
  Append(path_, "more\n");
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines.back(), "more");
}

TEST_F(LogFileTailTest, FileMissingForAWhileIsReadFromItsStartWhenItAppears) {
  LogFileTail tail(path_, {});
  Collector c;
  tail.Poll(c.fn());
  Append(path_, "first\n");
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines, ElementsAre("first"));
  ASSERT_EQ(unlink(path_.c_str()), 0);
  tail.Poll(c.fn());
  Append(path_, "again\n");
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines, ElementsAre("first", "again"));
}

TEST_F(LogFileTailTest, TruncationStartsOver) {
  Append(path_, "");
  LogFileTail tail(path_, {});
  Collector c;
  tail.Poll(c.fn());
  Append(path_, "a long first line\n");
  tail.Poll(c.fn());
  ASSERT_EQ(truncate(path_.c_str(), 0), 0);  // copytruncate
  Append(path_, "b\n");
  tail.Poll(c.fn());
  EXPECT_THAT(c.lines, ElementsAre("a long first line", "b"));
  EXPECT_EQ(tail.counters().truncations, 1u);
}

TEST_F(LogFileTailTest, OverlongLinesAreSkippedWholeAtTheLimitAndPastIt) {
  Append(path_, "");
  LogFileTail tail(path_, {/*max_line_bytes=*/8, /*max_read_bytes_per_poll=*/3});
  Collector c;
  tail.Poll(c.fn());
  Append(path_, "12345678\n123456789\nok\n");
  for (int i = 0; i < 20; ++i) tail.Poll(c.fn());  // 3 bytes per poll
  EXPECT_THAT(c.lines, ElementsAre("12345678", "ok"));
  EXPECT_EQ(tail.counters().overlong_lines, 1u);
}

TEST_F(LogFileTailTest, ResumesAtASavedPosition) {
  Append(path_, "a\nb\n");
  LogFileTail first(path_, {});
  Collector c;
  first.Poll(c.fn());
  Append(path_, "c\n");
  std::optional<LogFilePosition> saved = first.position();  // before "c" was read
  ASSERT_TRUE(saved.has_value());
  LogFileTail second(path_, {}, saved);
  second.Poll(c.fn());
  EXPECT_THAT(c.lines, ElementsAre("c"));
  // A position of another file (rotated while the agent was down): the new file from 0.
  LogFilePosition other = *saved;
  other.inode += 1;
  LogFileTail third(path_, {}, other);
  Collector all;
  third.Poll(all.fn());
  EXPECT_THAT(all.lines, ElementsAre("a", "b", "c"));
}

TEST_F(LogFileTailTest, AFifoAtThePathIsRefusedNotBlockedOn) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  LogFileTail tail(path_, {});
  Collector c;
  tail.Poll(c.fn());
  EXPECT_EQ(tail.counters().read_errors, 1u);
  EXPECT_FALSE(tail.position().has_value());
}

std::string Fp(char byte) {
  return Sha256FingerprintText(std::string(32, byte));
}

std::string AcceptedLine(const std::string& user, int port, char key) {
  return "Accepted publickey for " + user + " from 127.0.0.1 port " + std::to_string(port) +
         " ssh2: ED25519 " + Fp(key) + "\r\n";
}

template <typename Pred>
bool WaitFor(Pred pred) {
  for (int i = 0; i < 100 && !pred(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

TEST_F(LogFileTailTest, FollowerThreadDeliversEventsAndCountsMalformedLines) {
  Append(path_, "");
  AuthLogSettings settings;
  settings.path = path_;
  settings.file_format = SshdLogFormat::kSshdFile;
  settings.poll_interval = absl::Milliseconds(20);
  SystemClock clock;
  std::mutex mu;
  std::vector<SshdLogRecord> events;
  AuthLogFollower follower(settings, clock, [&](const SshdLogRecord& r) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(r);
  });
  follower.Start();
  ASSERT_TRUE(WaitFor([&] { return follower.position().has_value(); }));
  Append(path_, AcceptedLine("alice", 4000, 'a') + "Server listening\r\n" +
                    "Accepted publickey for alice from nowhere port 1 ssh2: ED25519 " + Fp('a') +
                    "\r\nDisconnected from user alice 127.0.0.1 port 4000\r\n");
  ASSERT_TRUE(WaitFor([&] { return follower.counters().lines == 4; }));
  follower.Stop();
  AuthLogCounters counters = follower.counters();
  EXPECT_EQ(counters.accepted, 1u);
  EXPECT_EQ(counters.session_ends, 1u);
  EXPECT_EQ(counters.malformed, 1u);
  EXPECT_THAT(counters.last_malformed, ::testing::HasSubstr("not a numeric"));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event.kind, SshdLogEventKind::kAccepted);
  EXPECT_EQ(events[1].event.kind, SshdLogEventKind::kSessionEnd);
}

TEST_F(LogFileTailTest, JournalctlChildIsReadRestartedAndStopped) {
  // A stand-in for journalctl: prints one journal line, then either waits or exits.
  const std::string fake = (dir_.path() / "journalctl").string();
  const std::string count = (dir_.path() / "starts").string();
  std::ofstream(fake) << "#!/bin/sh\necho x >> " << count << "\n"
                      << "echo '{\"_COMM\":\"sshd\",\"_PID\":\"99\",\"MESSAGE\":\""
                      << "Accepted publickey for bob from ::1 port 7 ssh2: RSA " << Fp('b')
                      << "\"}'\n"
                      << "[ $(wc -l < " << count << ") -ge 2 ] && exec sleep 60\nexit 3\n";
  chmod(fake.c_str(), 0755);
  JournalctlSettings s;
  s.journalctl = fake;
  s.min_backoff = absl::Milliseconds(50);
  JournalctlReader reader(s);
  EXPECT_THAT(reader.Argv(),
              ElementsAre(fake, "--follow", "--output=json", "--lines=0", "--no-pager", "--quiet",
                          "_COMM=sshd", "_COMM=sshd-session"));
  Collector c;
  ASSERT_TRUE(WaitFor([&] {
    reader.Poll(absl::Now(), c.fn());
    return c.lines.size() == 2 && reader.child() > 0;
  }));
  EXPECT_EQ(reader.counters().exits, 1u);  // the first one exited, the second runs
  const SshdLogRecord r =
      ParseSshdLogLine(c.lines[0], SshdLogFormat::kJournalJson, absl::Now(), absl::UTCTimeZone());
  EXPECT_EQ(r.event.kind, SshdLogEventKind::kAccepted);
  EXPECT_EQ(r.pid, 99);
  const pid_t child = reader.child();
  reader.Stop();
  EXPECT_EQ(kill(child, 0), -1) << "the child must be gone after Stop";
}

TEST(KeyUseTracker, ABatchThatCouldNotBeSentGoesBackAndANewerUseWins) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  KeyUseTracker tracker({/*max_pending_uses=*/2, /*max_live_sessions=*/8}, clock);
  auto accepted = [&](const std::string& user, const std::string& addr, char key, int at) {
    SshdLogRecord r;
    r.event.kind = SshdLogEventKind::kAccepted;
    r.event.user = user;
    r.event.address = addr;
    r.event.port = 22;
    r.event.fingerprint = Fp(key);
    r.event.digest = std::string(32, key);
    r.time = absl::FromUnixSeconds(at);
    tracker.Record(r);
  };
  accepted("c", "10.0.0.4", 'c', 30);
  accepted("d", "10.0.0.5", 'd', 31);
  accepted("e", "10.0.0.6", 'e', 32);  // full: c is dropped
  KeyUseBatch batch = tracker.TakeChangedUses(10);
  ASSERT_EQ(batch.uses.size(), 2u);
  EXPECT_EQ(batch.dropped, 1u);
  accepted("d", "10.0.0.9", 'd', 40);  // d again while the batch was being sent
  tracker.ReturnUses(batch);
  batch = tracker.TakeChangedUses(10);
  EXPECT_EQ(batch.dropped, 1u);
  ASSERT_EQ(batch.uses.size(), 2u);
  EXPECT_EQ(batch.uses[0].account, "e");
  EXPECT_EQ(batch.uses[1].account, "d");
  EXPECT_EQ(batch.uses[1].address, "10.0.0.9");
  EXPECT_EQ(batch.uses[1].time, absl::FromUnixSeconds(40));
  EXPECT_THAT(tracker.TakeChangedUses(10).uses, IsEmpty());
}

TEST(KeyUseTracker, LastUsePerAccountAndKeyInBoundedBatches) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  KeyUseTracker tracker({/*max_pending_uses=*/2, /*max_live_sessions=*/2}, clock);
  auto accepted = [&](const std::string& user, const std::string& addr, int port, char key, int at,
                      std::optional<pid_t> pid = std::nullopt) {
    SshdLogRecord r;
    r.event.kind = SshdLogEventKind::kAccepted;
    r.event.user = user;
    r.event.address = addr;
    r.event.port = static_cast<uint16_t>(port);
    r.event.fingerprint = Fp(key);
    r.event.digest = std::string(32, key);
    r.time = absl::FromUnixSeconds(at);
    r.pid = pid;
    tracker.Record(r);
  };
  accepted("alice", "10.0.0.1", 1, 'a', 10, 500);
  accepted("alice", "10.0.0.2", 2, 'a', 20, 501);  // same key again: newest address
  accepted("bob", "10.0.0.3", 3, 'b', 15);
  KeyUseBatch batch = tracker.TakeChangedUses(1);
  ASSERT_EQ(batch.uses.size(), 1u);
  EXPECT_EQ(batch.uses[0].account, "bob");
  batch = tracker.TakeChangedUses(10);
  ASSERT_EQ(batch.uses.size(), 1u);
  EXPECT_EQ(batch.uses[0].address, "10.0.0.2");
  EXPECT_EQ(batch.uses[0].time, absl::FromUnixSeconds(20));
  EXPECT_THAT(tracker.TakeChangedUses(10).uses, IsEmpty());
  // Full table: the oldest pending use is dropped and counted.
  accepted("c", "10.0.0.4", 4, 'c', 30);
  accepted("d", "10.0.0.5", 5, 'd', 31);
  accepted("e", "10.0.0.6", 6, 'e', 32);
  batch = tracker.TakeChangedUses(10);
  EXPECT_EQ(batch.dropped, 1u);
  ASSERT_EQ(batch.uses.size(), 2u);
  EXPECT_EQ(batch.uses[0].account, "d");

  // Live sessions: bounded to 2 (the oldest dropped), ended by their end line.
  EXPECT_EQ(tracker.live_session_count(), 2u);
  EXPECT_EQ(tracker.dropped_sessions(), 4u);
  SshdLogRecord end;
  end.event.kind = SshdLogEventKind::kSessionEnd;
  end.event.address = "10.0.0.6";
  end.event.port = 6;
  end.event.user = "someone-else";
  tracker.Record(end);
  EXPECT_EQ(tracker.live_session_count(), 2u) << "another account's end line ends nothing";
  end.event.user = "e";
  tracker.Record(end);
  EXPECT_EQ(tracker.live_session_count(), 1u);
  EXPECT_EQ(tracker.SessionsOfKeys({std::string(32, 'd')}).size(), 1u);
  EXPECT_THAT(tracker.SessionsOfKeys({std::string(32, 'e')}), IsEmpty());
}

TEST(ProcNetTcp, ParsesBothTables) {
  const std::string tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n"
      "   0: 0100007F:0016 0100007F:C5BA 01 00000000:00000000 00:00000000 00000000     0        "
      "0 424242 1 0000000000000000 20 4 30 10 -1\n"
      "   1: garbage\n";
  size_t bad = 0;
  std::vector<TcpSocketEntry> rows = ParseProcNetTcp(tcp, &bad);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(bad, 1u);
  EXPECT_EQ(rows[0].state, kTcpEstablished);
  EXPECT_EQ(rows[0].inode, 424242u);
  EXPECT_EQ(rows[0].remote, *MakeTcpEndpoint("127.0.0.1", 0xC5BA));
  EXPECT_EQ(rows[0].local, *MakeTcpEndpoint("127.0.0.1", 22));
  const std::string tcp6 =
      "  sl  local_address                         remote_address                        st "
      "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000000000000000000001000000:0016 0000000000000000FFFF00000200000A:1F90 01 "
      "00000000:00000000 00:00000000 00000000     0        0 777 1 0 20 4 30 10 -1\n";
  rows = ParseProcNetTcp(tcp6);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].local, *MakeTcpEndpoint("::1", 22));
  EXPECT_EQ(rows[0].remote, *MakeTcpEndpoint("10.0.0.2", 8080)) << "mapped IPv4 equals IPv4";
  EXPECT_FALSE(MakeTcpEndpoint("host", 1).ok());
}

}  // namespace
}  // namespace keyfleet::agent
