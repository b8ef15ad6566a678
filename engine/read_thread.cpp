#include "engine/read_thread.h"

#include <boost/asio/post.hpp>

namespace engine {

namespace {

// What a read sees while the reader handle cannot be opened: that error, from every read.
class Unreadable final : public state::Store {
 public:
  explicit Unreadable(state::Status why) : why_(std::move(why)) {}
  state::Status commit(std::span<state::Commit>, state::Position) override { return why_; }
  state::Result<std::optional<sagas::Instance>> load(const std::string&) override { return why_; }
  state::Result<std::vector<sagas::Instance>> load_active() override { return why_; }
  state::Result<state::Listed> list(const state::ListFilter&) override { return why_; }
  state::Result<std::vector<state::StateCount>> count(const state::ListFilter&) override { return why_; }
  state::Result<std::vector<state::HistoryRow>> history(const std::string&) override { return why_; }
  state::Result<state::Backlog> undelivered() override { return why_; }
  state::Result<bool> was_pruned(const std::string&) override { return why_; }
  state::Result<std::vector<std::string>> ids_starting_with(const std::string&, std::size_t) override { return why_; }
  state::Result<std::size_t> prune(sagas::TimeMs, std::size_t, sagas::TimeMs) override { return why_; }

 private:
  state::Status why_;
};

StoreReads::FindDefinition finder(const std::vector<sagas::DefinitionPtr>& definitions) {
  return [&definitions](const std::string& name, int version) -> const sagas::Definition* {
    for (const auto& d : definitions) {
      if (d->name == name && d->version == version) return d.get();
    }
    return nullptr;
  };
}

}  // namespace

ReadThread::ReadThread(boost::asio::io_context& io, state::Store& owner) : io_(io), owner_(owner) {}

ReadThread::~ReadThread() {
  thread_.stop();
  thread_.join();
}

state::Result<state::Store*> ReadThread::reader() {
  if (reader_) return reader_.get();
  auto opened = owner_.open_reader();
  if (!opened) return opened.error();
  reader_ = std::move(opened).value();
  return reader_.get();
}

void ReadThread::read(std::vector<sagas::DefinitionPtr> definitions, ReadWork work) {
  boost::asio::post(thread_, [this, definitions = std::move(definitions), work = std::move(work)]() mutable {
    auto store = on_loop_ ? state::Result<state::Store*>(nullptr) : reader();
    if (store && *store == nullptr) {
      // No reader handle: the owner's reads, on the owner's thread.
      on_loop_ = true;
      boost::asio::post(io_, [this, definitions = std::move(definitions), work = std::move(work)] {
        StoreReads reads(owner_, finder(definitions));
        work(reads)();
      });
      return;
    }
    std::unique_ptr<Unreadable> failed;
    if (!store) failed = std::make_unique<Unreadable>(store.error());
    StoreReads reads(failed ? *failed : **store, finder(definitions));
    ReadThen then = work(reads);
    // `work` goes back with its answer: what it holds of the loop's (a connection's reply
    // handler, say) is destroyed on the loop, never here.
    boost::asio::post(io_, [then = std::move(then), work = std::move(work)] { then(); });
  });
}

}  // namespace engine
