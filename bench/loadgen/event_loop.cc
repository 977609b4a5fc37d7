#include "event_loop.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>

#include "http_client.h"

namespace loadgen {
namespace {

struct Conn {
  int fd = -1;
  bool busy = false;
  std::string out;
  size_t sent = 0;
  std::string in;
  Clock::time_point due;
};

class Loop {
 public:
  Loop(const Options& o, Scenario& scenario, const RunWindow& w,
       const std::function<void()>& on_measure_start, RunResult& result)
      : o_(o), scenario_(scenario), w_(w), on_measure_start_(on_measure_start), result_(result) {}

  ~Loop() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    if (epoll_ >= 0) ::close(epoll_);
  }

  bool Open(std::string& error) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
      error = std::string("epoll_create1: ") + std::strerror(errno);
      return false;
    }
    conns_.resize(static_cast<size_t>(o_.concurrency));
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (!Connect(i, error)) return false;
      idle_.push_back(static_cast<int>(i));
    }
    return true;
  }

  void Run() {
    const bool open_loop = o_.rate > 0;
    if (!open_loop) {
      while (!idle_.empty() && StartClosed(idle_.back())) idle_.pop_back();
    }
    epoll_event events[256];
    const Clock::time_point give_up = w_.end + std::chrono::seconds(30);
    while (true) {
      if (open_loop) ReleaseDue();
      if (busy_ == 0 && (!open_loop || (schedule_done_ && backlog_.empty()))) break;
      if (Clock::now() > give_up) {  // a server that stopped answering must not hang the run
        for (size_t i = 0; i < conns_.size(); ++i) {
          if (conns_[i].busy) Complete(i, "Timeout", /*usable=*/false);
        }
        break;
      }
      const int n = ::epoll_pwait2(epoll_, events, 256, Timeout(open_loop), nullptr);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) {
        const size_t index = events[i].data.u32;
        if (events[i].events & EPOLLOUT) Send(index);
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) Receive(index);
      }
    }
  }

 private:
  bool Connect(size_t index, std::string& error) {
    Conn& c = conns_[index];
    c.fd = ConnectTcp(o_.host, o_.port, error);
    if (c.fd < 0) return false;
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(index);
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    c.in.clear();
    return true;
  }

  // The next slot if the budget allows one.
  bool TakeSlot() {
    if (o_.max_requests > 0 && slots_ >= o_.max_requests) return false;
    ++slots_;
    return true;
  }

  // Closed loop: the connection's next request, if the window and budget allow.
  bool StartClosed(int index) {
    const Clock::time_point now = Clock::now();
    if (material_done_ || now >= w_.end || !TakeSlot()) return false;
    return Dispatch(index, now);
  }

  // Open loop: every request now due goes to an idle connection or waits in the backlog.
  void ReleaseDue() {
    const Clock::time_point now = Clock::now();
    while (!schedule_done_) {
      const Clock::time_point due = DueTime(slots_);
      if (due > now) break;
      if (due >= w_.end || material_done_ || !TakeSlot()) {
        schedule_done_ = true;
        break;
      }
      backlog_.push_back(due);
    }
    while (!backlog_.empty() && !idle_.empty()) {
      const int index = idle_.back();
      idle_.pop_back();
      const Clock::time_point due = backlog_.front();
      backlog_.pop_front();
      if (!Dispatch(index, due)) {
        idle_.push_back(index);
        backlog_.clear();
        schedule_done_ = true;
      }
    }
  }

  Clock::time_point DueTime(int64_t slot) const {
    return w_.t0 + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(slot) / o_.rate));
  }

  // epoll timeout: until the next due request (open loop) or the window's end (closed loop).
  const timespec* Timeout(bool open_loop) {
    // At most a second, so a silent server is noticed (see Run).
    Clock::time_point until = std::max(w_.end, Clock::now()) + std::chrono::seconds(1);
    if (open_loop && !schedule_done_) until = std::min(until, DueTime(slots_));
    if (!open_loop && busy_ > 0) until = Clock::now() + std::chrono::seconds(1);
    const auto left = std::max(Clock::duration::zero(), until - Clock::now());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timeout_.tv_sec = static_cast<time_t>(ns / 1000000000);
    timeout_.tv_nsec = static_cast<long>(ns % 1000000000);
    return &timeout_;
  }

  bool Dispatch(int index, Clock::time_point due) {
    std::string request = scenario_.NextRequest(index);
    if (request.empty()) {
      material_done_ = true;
      return false;
    }
    if (due >= w_.measure_start && !measuring_) {
      measuring_ = true;
      on_measure_start_();
    }
    Conn& c = conns_[static_cast<size_t>(index)];
    c.out = std::move(request);
    c.sent = 0;
    c.due = due;
    c.busy = true;
    ++busy_;
    Send(static_cast<size_t>(index));
    return true;
  }

  void Send(size_t index) {
    Conn& c = conns_[index];
    while (c.busy && c.sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        Watch(index, EPOLLIN | EPOLLOUT);
        return;
      }
      Fail(index);
      return;
    }
    Watch(index, EPOLLIN);
  }

  void Watch(size_t index, uint32_t mask) {
    epoll_event ev{};
    ev.events = mask;
    ev.data.u32 = static_cast<uint32_t>(index);
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, conns_[index].fd, &ev);
  }

  void Receive(size_t index) {
    Conn& c = conns_[index];
    char chunk[16384];
    while (true) {
      const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        c.in.append(chunk, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      Fail(index);  // closed or broken
      return;
    }
    HttpResponse response;
    const int parsed = ParseResponse(c.in, response);
    if (parsed < 0) {
      Fail(index);
    } else if (parsed > 0 && c.busy) {
      Complete(index, scenario_.OnResponse(static_cast<int>(index), response));
    }
  }

  // A broken connection: the request in flight (if any) counts as an error and is not resent
  // (it may have been executed: resending a refresh token would be reuse).
  void Fail(size_t index) {
    Conn& c = conns_[index];
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
    std::string error;
    const bool reconnected = Connect(index, error);
    if (c.busy) Complete(index, "ConnectionError", reconnected);
  }

  void Complete(size_t index, const std::string& error_type, bool usable = true) {
    Conn& c = conns_[index];
    const Clock::time_point done = Clock::now();
    c.busy = false;
    --busy_;
    if (c.due >= w_.measure_start) {
      result_.last_done = std::max(result_.last_done, done);
      if (error_type.empty()) {
        result_.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(done - c.due).count());
      } else {
        ++result_.errors[error_type];
      }
    }
    if (!usable) return;  // a connection that could not reconnect takes no more requests
    const int i = static_cast<int>(index);
    if (o_.rate > 0) {
      idle_.push_back(i);
      ReleaseDue();
    } else if (!StartClosed(i)) {
      idle_.push_back(i);
    }
  }

  const Options& o_;
  Scenario& scenario_;
  const RunWindow& w_;
  const std::function<void()>& on_measure_start_;
  RunResult& result_;
  int epoll_ = -1;
  std::vector<Conn> conns_;
  std::vector<int> idle_;
  std::deque<Clock::time_point> backlog_;  // open loop: due requests waiting for a connection
  int64_t slots_ = 0;
  int busy_ = 0;
  bool schedule_done_ = false;
  bool material_done_ = false;
  bool measuring_ = false;
  timespec timeout_{};
};

}  // namespace

bool RunEventLoop(const Options& options, Scenario& scenario, const RunWindow& window,
                  const std::function<void()>& on_measure_start, RunResult& result,
                  std::string& error) {
  Loop loop(options, scenario, window, on_measure_start, result);
  if (!loop.Open(error)) return false;
  loop.Run();
  return true;
}

}  // namespace loadgen
