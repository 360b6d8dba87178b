// ckptdb._ckptdb: the compiled half of the Python package.
//
// A thin binding of the C++ API (Checkpointer, AsyncCheckpointer,
// CheckpointManager); the Orbax-shaped classes are in python/ckptdb/*.py.
//
// GIL protocol: trees are converted with the GIL held; every call into the
// C++ core runs with the GIL released (I/O, and waits on locks that a
// thread calling back into Python may hold); Python callbacks (best_fn,
// should_save_fn, Python preservation policies) take the GIL themselves and
// record their exceptions in a CallbackErrors, raised when the call
// returns. Objects that own C++ checkpointers release the GIL in their
// destructors, since those wait for background saves whose borrowed numpy
// arrays are released from the background thread.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ckptdb/async_checkpointer.h"
#include "ckptdb/checkpoint_manager.h"
#include "ckptdb/checkpointer.h"
#include "ckptdb/import.h"
#include "ckptdb/preservation_policy.h"
#include "core/orbax_checkpoint.h"
#include "python/src/convert.h"

namespace ckptdb::python {
namespace {

using namespace pybind11::literals;  // NOLINT

std::optional<int64_t> OptInt(py::handle h) {
  if (!h || h.is_none()) return std::nullopt;
  return h.cast<int64_t>();
}

StoreTuning TuningFromDict(py::handle h) {
  StoreTuning t;
  if (!h || h.is_none()) return t;
  py::dict d = py::reinterpret_borrow<py::dict>(h);
  for (auto kv : d) {
    const std::string k = kv.first.cast<std::string>();
    if (kv.second.is_none()) continue;
    if (k == "chunk_bytes") {
      t.chunk_bytes = kv.second.cast<uint32_t>();
    } else if (k == "inline_bytes") {
      t.inline_bytes = kv.second.cast<uint32_t>();
    } else if (k == "patch_max_fraction") {
      t.patch_max_fraction = kv.second.cast<double>();
    } else if (k == "delta_chunks") {
      t.delta_chunks = kv.second.cast<bool>();
    } else if (k == "compress_chunks") {
      t.compress_chunks = kv.second.cast<bool>();
    } else if (k == "direct_reads") {
      t.direct_reads = kv.second.cast<bool>();
    } else if (k == "mmap_reads") {
      t.mmap_reads = kv.second.cast<bool>();
    } else if (k == "num_threads") {
      t.num_threads = kv.second.cast<int>();
    } else if (k == "save_nice") {
      t.save_nice = kv.second.cast<int>();
    } else if (k == "writeback_bytes") {
      t.writeback_bytes = kv.second.cast<uint64_t>();
    } else {
      throw py::value_error("unknown tuning option '" + k + "'");
    }
  }
  return t;
}

void FillSaveArgs(py::handle save_args, SaveOptions* o) {
  for (const auto& [path, dtype] : ParseDTypeMap(save_args)) {
    o->save_args[path].dtype = dtype;
  }
}

RestoreOptions MakeRestoreOptions(bool partial_restore, py::handle restore_args,
                                  py::handle step, const std::string& item) {
  RestoreOptions o;
  o.partial_restore = partial_restore;
  ParseRestoreArgs(restore_args, &o);
  o.step = OptInt(step);
  o.item = item;
  return o;
}

// Restores through `restorer` (any object with Restore(key, [target,]
// options)) with the GIL released, into `target`'s structure when
// `use_target`: into new arrays, or into the target's own arrays when
// `in_place`.
template <typename Restorer, typename Key>
py::object RestoreToPython(Restorer& restorer, const Key& key,
                           py::handle target, bool use_target, bool in_place,
                           const RestoreOptions& o) {
  absl::StatusOr<Tree> r;
  if (use_target) {
    Tree t = FromPython(target,
                        in_place ? TreeUse::kTargetInPlace : TreeUse::kTarget);
    {
      py::gil_scoped_release nogil;
      r = restorer.Restore(key, t, o);
    }
    CheckStatus(r.status());
    return ToPython(*r, target);
  }
  {
    py::gil_scoped_release nogil;
    r = restorer.Restore(key, o);
  }
  CheckStatus(r.status());
  return ToPython(*r);
}

// ---- Checkpointer ---------------------------------------------------------

py::dict StepInfoToPython(const StepInfo& s);

class PyCheckpointer {
 public:
  explicit PyCheckpointer(py::handle tuning) : ckpt_(TuningFromDict(tuning)) {}

  void Save(const std::string& path, py::handle tree, bool force,
            py::handle save_args, py::handle custom_metadata) {
    Tree t = FromPython(tree, TreeUse::kSave);
    SaveOptions o;
    o.force = force;
    FillSaveArgs(save_args, &o);
    if (!custom_metadata.is_none()) {
      o.custom_metadata = FromPython(custom_metadata, TreeUse::kSave);
    }
    absl::Status s;
    {
      py::gil_scoped_release nogil;
      s = ckpt_.Save(path, t, o);
    }
    CheckStatus(s);
  }

  py::object Restore(const std::string& path, py::handle target,
                     bool use_target, bool partial_restore,
                     py::handle restore_args, py::handle step,
                     const std::string& item, bool in_place) {
    RestoreOptions o =
        MakeRestoreOptions(partial_restore, restore_args, step, item);
    return RestoreToPython(ckpt_, path, target, use_target, in_place, o);
  }

  py::object Metadata(const std::string& path, py::handle step,
                      const std::string& item) {
    RestoreOptions o = MakeRestoreOptions(false, py::none(), step, item);
    absl::StatusOr<TreeMetadata> m;
    {
      py::gil_scoped_release nogil;
      m = ckpt_.Metadata(path, o);
    }
    CheckStatus(m.status());
    return MetadataToPython(*m);
  }

  py::dict Info(const std::string& path) {
    absl::StatusOr<StepInfo> s;
    {
      py::gil_scoped_release nogil;
      s = ckpt_.Info(path);
    }
    CheckStatus(s.status());
    return StepInfoToPython(*s);
  }

 private:
  Checkpointer ckpt_;
};

// ---- AsyncCheckpointer ----------------------------------------------------

class PySaveFuture {
 public:
  explicit PySaveFuture(SaveFuture f) : f_(std::move(f)) {}
  bool Done() const {
    py::gil_scoped_release nogil;
    return f_.done();
  }
  // Blocks until the save is done; raises its error (which
  // wait_until_finished still reports too).
  void Wait() const {
    absl::Status s;
    {
      py::gil_scoped_release nogil;
      s = f_.Wait();
    }
    CheckStatus(s);
  }

 private:
  SaveFuture f_;
};

class PyAsyncCheckpointer {
 public:
  explicit PyAsyncCheckpointer(py::handle tuning)
      : impl_(std::make_unique<AsyncCheckpointer>(TuningFromDict(tuning))) {}
  ~PyAsyncCheckpointer() {
    py::gil_scoped_release nogil;
    impl_.reset();
  }

  PySaveFuture Save(const std::string& path, py::handle tree, bool force,
                    py::handle save_args, py::handle custom_metadata,
                    bool borrow) {
    Tree t = FromPython(tree, TreeUse::kSave);
    AsyncSaveOptions o;
    o.force = force;
    o.capture = borrow ? CaptureMode::kBorrow : CaptureMode::kCopy;
    FillSaveArgs(save_args, &o);
    if (!custom_metadata.is_none()) {
      o.custom_metadata = FromPython(custom_metadata, TreeUse::kSave);
    }
    absl::StatusOr<SaveFuture> f;
    {
      py::gil_scoped_release nogil;
      f = impl_->Save(path, t, o);
    }
    CheckStatus(f.status());
    return PySaveFuture(*f);
  }

  py::object Restore(const std::string& path, py::handle target,
                     bool use_target, bool partial_restore,
                     py::handle restore_args, py::handle step,
                     const std::string& item, bool in_place) {
    RestoreOptions o =
        MakeRestoreOptions(partial_restore, restore_args, step, item);
    return RestoreToPython(*impl_, path, target, use_target, in_place, o);
  }

  py::object Metadata(const std::string& path, py::handle step,
                      const std::string& item) {
    RestoreOptions o = MakeRestoreOptions(false, py::none(), step, item);
    absl::StatusOr<TreeMetadata> m;
    {
      py::gil_scoped_release nogil;
      m = impl_->Metadata(path, o);
    }
    CheckStatus(m.status());
    return MetadataToPython(*m);
  }

  void WaitUntilFinished() {
    Call([&] { return impl_->WaitUntilFinished(); });
  }
  void CheckForErrors() {
    Call([&] { return impl_->CheckForErrors(); });
  }
  void Close() {
    Call([&] { return impl_->Close(); });
  }
  bool IsSaving() {
    py::gil_scoped_release nogil;
    return impl_->IsSaving();
  }

 private:
  template <typename F>
  void Call(F f) {
    absl::Status s;
    {
      py::gil_scoped_release nogil;
      s = f();
    }
    CheckStatus(s);
  }

  std::unique_ptr<AsyncCheckpointer> impl_;
};

// ---- CheckpointManager ----------------------------------------------------

// Depth of best_fn / preservation-policy callbacks on this thread. The
// manager calls them with its lock held, so calling back into the manager
// from one would deadlock: such calls raise instead.
thread_local int callback_depth = 0;

struct InCallback {
  InCallback() { ++callback_depth; }
  ~InCallback() { --callback_depth; }
};

void RejectReentry(const char* method) {
  if (callback_depth > 0) {
    throw std::runtime_error(absl::StrCat(
        "CheckpointManager.", method,
        "() cannot be called from inside best_fn or a preservation "
        "policy (the manager is in the middle of applying retention)"));
  }
}

// A preservation policy implemented in Python: `adapter(infos)` gets a list
// of (step, time_ns, metrics or None) and returns one bool per step.
class PythonPolicy : public PreservationPolicy {
 public:
  PythonPolicy(py::object adapter, std::string name,
               std::shared_ptr<CallbackErrors> errors)
      : adapter_(std::make_shared<PyObjectHolder>(std::move(adapter))),
        name_(std::move(name)),
        errors_(std::move(errors)) {}

  absl::StatusOr<std::vector<bool>> ShouldPreserve(
      const std::vector<CheckpointInfo>& checkpoints,
      int64_t now_ns) const override {
    py::gil_scoped_acquire gil;
    InCallback in_callback;
    try {
      py::list infos;
      for (const CheckpointInfo& c : checkpoints) {
        infos.append(
            py::make_tuple(c.step, c.time_ns,
                           c.has_metrics ? ToPython(c.metrics) : py::none()));
      }
      py::object r = adapter_->get()(infos, now_ns);
      std::vector<bool> out;
      for (py::handle b : r)
        out.push_back(py::bool_(py::reinterpret_borrow<py::object>(b)));
      if (out.size() != checkpoints.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "preservation policy ", name_, " returned ", out.size(),
            " flags for ", checkpoints.size(), " checkpoints"));
      }
      return out;
    } catch (py::error_already_set& e) {
      errors_->Record(e);
      return absl::InvalidArgumentError(
          absl::StrCat("preservation policy ", name_, " raised"));
    }
  }
  std::string DebugString() const override { return name_; }

 private:
  std::shared_ptr<PyObjectHolder> adapter_;
  std::string name_;
  std::shared_ptr<CallbackErrors> errors_;
};

std::function<double(const Tree&)> MetricFn(
    py::object fn, const std::shared_ptr<CallbackErrors>& errors) {
  auto holder = std::make_shared<PyObjectHolder>(std::move(fn));
  return [holder, errors](const Tree& metrics) -> double {
    py::gil_scoped_acquire gil;
    InCallback in_callback;
    try {
      return py::float_(holder->get()(ToPython(metrics))).cast<double>();
    } catch (py::error_already_set& e) {
      errors->Record(e);
      return std::numeric_limits<double>::quiet_NaN();
    }
  };
}

PolicyPtr PolicyFromSpec(py::handle spec,
                         const std::shared_ptr<CallbackErrors>& errors) {
  py::tuple t = py::reinterpret_borrow<py::tuple>(spec);
  const std::string kind = t[0].cast<std::string>();
  if (kind == "PreserveAll") return PreserveAll();
  if (kind == "LatestN") return LatestN(OptInt(t[1]));
  if (kind == "EveryNSeconds") return EveryNSeconds(t[1].cast<int64_t>());
  if (kind == "EveryNSteps") {
    return EveryNSteps(t[1].cast<int64_t>(), t[2].cast<bool>(), OptInt(t[3]));
  }
  if (kind == "EveryNStepsClosest") {
    return EveryNStepsClosest(t[1].cast<int64_t>(), OptInt(t[2]));
  }
  if (kind == "CustomSteps") {
    return CustomSteps(t[1].cast<std::vector<int64_t>>());
  }
  if (kind == "BestN") {
    return BestN(MetricFn(py::reinterpret_borrow<py::object>(t[1]), errors),
                 t[2].cast<bool>(), OptInt(t[3]), t[4].cast<bool>());
  }
  if (kind == "LatestDuration") return LatestDuration(t[1].cast<int64_t>());
  if (kind == "AnyOf") {
    std::vector<PolicyPtr> policies;
    for (py::handle p : t[1]) policies.push_back(PolicyFromSpec(p, errors));
    return AnyOf(std::move(policies));
  }
  if (kind == "Python") {
    return std::make_shared<PythonPolicy>(
        py::reinterpret_borrow<py::object>(t[1]), t[2].cast<std::string>(),
        errors);
  }
  throw py::value_error("unknown preservation policy spec '" + kind + "'");
}

// {"process_index", "process_count", "primary", "timeout_s", "barrier"}.
MultiprocessingOptions MultiprocessingFromDict(
    py::handle d, const std::shared_ptr<CallbackErrors>& errors) {
  MultiprocessingOptions m;
  for (auto kv : py::reinterpret_borrow<py::dict>(d)) {
    const std::string k = kv.first.cast<std::string>();
    py::handle v = kv.second;
    if (k == "process_index") {
      m.process_index = v.cast<int>();
    } else if (k == "process_count") {
      m.process_count = v.cast<int>();
    } else if (k == "primary") {
      m.primary = v.cast<int>();
    } else if (k == "timeout_s") {
      m.timeout_ms = static_cast<int64_t>(v.cast<double>() * 1000);
    } else if (k == "barrier") {
      if (v.is_none()) continue;
      auto holder = std::make_shared<PyObjectHolder>(
          py::reinterpret_borrow<py::object>(v));
      m.barrier = [holder, errors](const std::string& name) {
        py::gil_scoped_acquire gil;
        try {
          holder->get()(name);
          return absl::OkStatus();
        } catch (py::error_already_set& e) {
          const std::string what = e.what();
          errors->Record(e);
          return absl::UnavailableError("the barrier failed: " + what);
        }
      };
    } else {
      throw py::value_error("unknown multiprocessing option '" + k + "'");
    }
  }
  return m;
}

CheckpointManagerOptions OptionsFromDict(
    py::dict d, const std::shared_ptr<CallbackErrors>& errors) {
  CheckpointManagerOptions o;
  for (auto kv : d) {
    const std::string k = kv.first.cast<std::string>();
    py::handle v = kv.second;
    if (k == "save_interval_steps") {
      o.save_interval_steps = v.cast<int64_t>();
    } else if (k == "save_on_steps") {
      if (!v.is_none()) {
        std::set<int64_t> steps;
        for (py::handle s : v) steps.insert(s.cast<int64_t>());
        o.save_on_steps = std::move(steps);
      }
    } else if (k == "should_save_fn") {
      if (!v.is_none()) {
        auto holder = std::make_shared<PyObjectHolder>(
            py::reinterpret_borrow<py::object>(v));
        o.should_save_fn = [holder, errors](int64_t step,
                                            std::optional<int64_t> latest) {
          py::gil_scoped_acquire gil;
          try {
            py::object l = latest ? py::object(py::int_(*latest)) : py::none();
            return py::bool_(holder->get()(step, l)).cast<bool>();
          } catch (py::error_already_set& e) {
            errors->Record(e);
            return false;
          }
        };
      }
    } else if (k == "max_to_keep") {
      o.max_to_keep = OptInt(v);
    } else if (k == "keep_period") {
      o.keep_period = OptInt(v);
    } else if (k == "keep_time_interval_secs") {
      o.keep_time_interval_secs = OptInt(v);
    } else if (k == "best_fn") {
      if (!v.is_none()) {
        o.best_fn = MetricFn(py::reinterpret_borrow<py::object>(v), errors);
      }
    } else if (k == "best_mode") {
      o.best_mode = v.cast<std::string>();
    } else if (k == "keep_checkpoints_without_metrics") {
      o.keep_checkpoints_without_metrics = v.cast<bool>();
    } else if (k == "preservation_policy") {
      if (!v.is_none()) o.preservation_policy = PolicyFromSpec(v, errors);
    } else if (k == "step_prefix") {
      o.step_prefix = v.is_none() ? "" : v.cast<std::string>();
    } else if (k == "step_format_fixed_length") {
      if (!v.is_none()) o.step_format_fixed_length = v.cast<int>();
    } else if (k == "create") {
      o.create = v.cast<bool>();
    } else if (k == "read_only") {
      o.read_only = v.cast<bool>();
    } else if (k == "enable_async_checkpointing") {
      o.enable_async_checkpointing = v.cast<bool>();
    } else if (k == "gc_garbage_fraction") {
      o.gc_garbage_fraction = v.cast<double>();
    } else if (k == "tuning") {
      o.tuning = TuningFromDict(v);
    } else if (k == "multiprocessing") {
      o.multiprocessing = MultiprocessingFromDict(v, errors);
    } else {
      throw py::value_error("unknown CheckpointManager option '" + k + "'");
    }
  }
  return o;
}

py::dict StepInfoToPython(const StepInfo& s) {
  py::list items;
  for (const ItemSummary& i : s.items) {
    items.append(py::dict("name"_a = i.name, "node_count"_a = i.node_count,
                          "leaf_count"_a = i.leaf_count,
                          "array_count"_a = i.array_count,
                          "logical_bytes"_a = i.logical_bytes));
  }
  return py::dict(
      "step"_a = s.step, "name"_a = s.name,
      "init_timestamp_nsecs"_a = s.init_time_ns,
      "commit_timestamp_nsecs"_a = s.commit_time_ns, "items"_a = items,
      "metrics"_a = s.has_metrics ? ToPython(s.metrics) : py::none(),
      "custom_metadata"_a = ToPython(s.custom_metadata),
      "logical_bytes"_a = s.logical_bytes, "new_bytes"_a = s.new_bytes,
      "chunk_count"_a = s.chunk_count);
}

class PyManager {
 public:
  PyManager(const std::string& directory, py::dict options,
            const std::string& run)
      : errors_(std::make_shared<CallbackErrors>()) {
    CheckpointManagerOptions o = OptionsFromDict(options, errors_);
    absl::StatusOr<std::unique_ptr<CheckpointManager>> m;
    {
      py::gil_scoped_release nogil;
      m = CheckpointManager::Open(directory, std::move(o), run);
    }
    errors_->RaiseIfAny();
    CheckStatus(m.status());
    impl_ = std::move(*m);
  }
  ~PyManager() {
    py::gil_scoped_release nogil;
    impl_.reset();
  }

  bool Save(int64_t step, py::dict items, py::handle metrics, bool has_metrics,
            bool force, py::handle item_save_args, py::handle custom_metadata,
            bool borrow) {
    RejectReentry("save");
    std::map<std::string, Tree> trees;
    for (auto kv : items) {
      trees[kv.first.cast<std::string>()] =
          FromPython(kv.second, TreeUse::kSave);
    }
    ManagerSaveOptions o;
    if (has_metrics) o.metrics = FromPython(metrics, TreeUse::kSave);
    o.force = force;
    if (!item_save_args.is_none()) {
      for (auto kv : py::reinterpret_borrow<py::dict>(item_save_args)) {
        SaveOptions& so = o.item_options[kv.first.cast<std::string>()];
        FillSaveArgs(kv.second, &so);
      }
    }
    if (!custom_metadata.is_none()) {
      o.custom_metadata = FromPython(custom_metadata, TreeUse::kSave);
    }
    o.capture = borrow ? CaptureMode::kBorrow : CaptureMode::kCopy;
    absl::StatusOr<bool> r;
    {
      py::gil_scoped_release nogil;
      r = impl_->Save(step, trees, o);
    }
    errors_->RaiseIfAny();
    CheckStatus(r.status());
    return *r;
  }

  py::object Restore(py::handle step, const std::string& item,
                     py::handle target, bool use_target, bool partial_restore,
                     py::handle restore_args, bool in_place) {
    RejectReentry("restore");
    RestoreOptions o =
        MakeRestoreOptions(partial_restore, restore_args, py::none(), item);
    const std::optional<int64_t> s = OptInt(step);
    return RestoreToPython(*impl_, s, target, use_target, in_place, o);
  }

  std::vector<int64_t> AllSteps() {
    RejectReentry("all_steps");
    py::gil_scoped_release nogil;
    return impl_->AllSteps();
  }
  std::optional<int64_t> LatestStep() {
    RejectReentry("latest_step");
    py::gil_scoped_release nogil;
    return impl_->LatestStep();
  }
  std::optional<int64_t> BestStep() {
    RejectReentry("best_step");
    std::optional<int64_t> r;
    {
      py::gil_scoped_release nogil;
      r = impl_->BestStep();
    }
    errors_->RaiseIfAny();
    return r;
  }
  bool ShouldSave(int64_t step) {
    RejectReentry("should_save");
    bool r;
    {
      py::gil_scoped_release nogil;
      r = impl_->ShouldSave(step);
    }
    errors_->RaiseIfAny();
    return r;
  }
  py::object Metrics(int64_t step) {
    RejectReentry("metrics");
    absl::StatusOr<std::optional<Tree>> r;
    {
      py::gil_scoped_release nogil;
      r = impl_->Metrics(step);
    }
    CheckStatus(r.status());
    if (!r->has_value()) return py::none();
    return ToPython(**r);
  }
  py::dict StepMetadata(int64_t step) {
    RejectReentry("step_metadata");
    absl::StatusOr<StepInfo> r;
    {
      py::gil_scoped_release nogil;
      r = impl_->StepMetadata(step);
    }
    CheckStatus(r.status());
    return StepInfoToPython(*r);
  }
  py::object ItemMetadata(int64_t step, const std::string& item) {
    RejectReentry("item_metadata");
    absl::StatusOr<TreeMetadata> r;
    {
      py::gil_scoped_release nogil;
      r = impl_->ItemMetadata(step, item);
    }
    CheckStatus(r.status());
    return MetadataToPython(*r);
  }
  std::string StepName(int64_t step) { return impl_->StepName(step); }
  void Delete(int64_t step) {
    RejectReentry("delete");
    Call([&] { return impl_->Delete(step); });
  }
  void Reload() {
    RejectReentry("reload");
    Call([&] { return impl_->Reload(); });
  }
  std::vector<int64_t> ApplyRetention() {
    RejectReentry("apply_retention");
    absl::StatusOr<std::vector<int64_t>> r;
    {
      py::gil_scoped_release nogil;
      r = impl_->ApplyRetention();
    }
    errors_->RaiseIfAny();
    CheckStatus(r.status());
    return *r;
  }
  void CollectGarbage() {
    RejectReentry("collect_garbage");
    Call([&] { return impl_->CollectGarbage(); });
  }
  void WaitUntilFinished() {
    RejectReentry("wait_until_finished");
    Call([&] { return impl_->WaitUntilFinished(); });
  }
  void CheckForErrors() {
    RejectReentry("check_for_errors");
    Call([&] { return impl_->CheckForErrors(); });
  }
  bool IsSavingInProgress() {
    py::gil_scoped_release nogil;
    return impl_->IsSavingInProgress();
  }
  void Close() {
    RejectReentry("close");
    Call([&] { return impl_->Close(); });
  }
  std::string Directory() const { return impl_->directory(); }
  bool Following() const { return impl_->following(); }
  std::string Run() const { return impl_->run(); }
  void Fork(const std::string& from_run, int64_t step,
            const std::string& new_run) {
    RejectReentry("fork");
    Call([&] { return impl_->Fork(from_run, step, new_run); });
  }

 private:
  template <typename F>
  void Call(F f) {
    absl::Status s;
    {
      py::gil_scoped_release nogil;
      s = f();
    }
    errors_->RaiseIfAny();
    CheckStatus(s);
  }

  std::shared_ptr<CallbackErrors> errors_;
  std::unique_ptr<CheckpointManager> impl_;
};

// evaluate_policy: a preservation policy spec evaluated over (step,
// time_ns, metrics) tuples, for tests of the Python policy classes.
std::vector<bool> EvaluatePolicy(py::handle spec, py::list infos,
                                 int64_t now_ns) {
  auto errors = std::make_shared<CallbackErrors>();
  PolicyPtr policy = PolicyFromSpec(spec, errors);
  std::vector<CheckpointInfo> checkpoints;
  for (py::handle h : infos) {
    py::tuple t = py::reinterpret_borrow<py::tuple>(h);
    CheckpointInfo c;
    c.step = t[0].cast<int64_t>();
    c.time_ns = t[1].cast<int64_t>();
    c.has_metrics = !t[2].is_none();
    if (c.has_metrics) c.metrics = FromPython(t[2], TreeUse::kSave);
    checkpoints.push_back(std::move(c));
  }
  absl::StatusOr<std::vector<bool>> r;
  {
    py::gil_scoped_release nogil;
    r = policy->ShouldPreserve(checkpoints, now_ns);
  }
  errors->RaiseIfAny();
  CheckStatus(r.status());
  return *r;
}

void BindArrayMetadata(py::module_& m) {
  py::class_<ArrayMetadataPy>(m, "ArrayMetadata",
                              "An array leaf of a saved tree, as stored.")
      .def_property_readonly("shape",
                             [](const ArrayMetadataPy& a) {
                               py::tuple t(a.shape.size());
                               for (size_t i = 0; i < a.shape.size(); ++i)
                                 t[i] = a.shape[i];
                               return t;
                             })
      .def_property_readonly(
          "dtype",
          [](const ArrayMetadataPy& a) -> py::object {
            // numpy dtype; the name 'bfloat16' when ml_dtypes is missing.
            absl::StatusOr<DType> d = DTypeFromName(a.dtype_name);
            if (d.ok() && (*d != DType::kBFloat16 || HaveBFloat16())) {
              return ToNumpyDType(*d, "");
            }
            return py::str(a.dtype_name);
          })
      .def_readonly("dtype_name", &ArrayMetadataPy::dtype_name)
      .def_readonly("source_dtype_name", &ArrayMetadataPy::source_dtype_name)
      .def_readonly("nbytes", &ArrayMetadataPy::nbytes)
      .def_readonly("chunk_count", &ArrayMetadataPy::chunk_count)
      .def_readonly("is_inline", &ArrayMetadataPy::is_inline)
      .def_property_readonly(
          "size",
          [](const ArrayMetadataPy& a) { return ShapeNumElements(a.shape); })
      .def("__repr__", [](const ArrayMetadataPy& a) {
        return absl::StrCat("ArrayMetadata(shape=", ShapeToString(a.shape),
                            ", dtype=", a.dtype_name, ")");
      });
}

// ---- reading other libraries' checkpoints ---------------------------------

ImportFormat ImportFormatFromName(const std::string& name) {
  if (name == "auto") return ImportFormat::kAuto;
  if (name == "orbax") return ImportFormat::kOrbax;
  if (name == "msgpack") return ImportFormat::kFlaxMsgpack;
  if (name == "safetensors") return ImportFormat::kSafetensors;
  if (name == "npz") return ImportFormat::kNpz;
  if (name == "npy") return ImportFormat::kNpy;
  throw py::value_error(
      "format must be auto, orbax, msgpack, safetensors, npz or npy, got '" +
      name + "'");
}

// ReadCheckpoint with the GIL released: a dict of the contents, items as
// Python trees (arrays as numpy arrays over the read buffers).
py::dict ReadCheckpointToPython(
    const std::string& path, const std::string& format,
    const std::vector<std::string>& only_items,
    const std::vector<std::vector<std::string>>& only_paths) {
  ImportOptions o;
  o.format = ImportFormatFromName(format);
  o.only_items = only_items;
  o.only_paths = only_paths;
  absl::StatusOr<CheckpointContents> c;
  {
    py::gil_scoped_release nogil;
    c = ReadCheckpoint(path, o);
  }
  CheckStatus(c.status());
  py::dict items;
  for (const std::string& name : c->item_order) {
    items[py::str(name)] = ToPython(c->items.at(name));
  }
  return py::dict("format"_a = c->format, "items"_a = items,
                  "item_order"_a = c->item_order,
                  "metrics"_a = c->metrics ? ToPython(*c->metrics) : py::none(),
                  "custom_metadata"_a = ToPython(c->custom_metadata),
                  "init_timestamp_nsecs"_a = c->init_time_ns,
                  "commit_timestamp_nsecs"_a = c->commit_time_ns,
                  "files"_a = c->files, "array_bytes"_a = c->array_bytes);
}

// The committed steps of an Orbax CheckpointManager root (as ImportAll
// finds them).
py::dict OrbaxStepsToPython(const std::string& root) {
  absl::StatusOr<orbax::RootListing> r;
  {
    py::gil_scoped_release nogil;
    r = orbax::FindSteps(root);
  }
  CheckStatus(r.status());
  py::list steps;
  for (const orbax::RootStep& s : r->steps) {
    steps.append(
        py::dict("step"_a = s.step, "name"_a = s.name, "dir"_a = s.dir));
  }
  return py::dict("steps"_a = steps, "skipped"_a = r->skipped,
                  "prefix"_a = r->prefix, "fixed_length"_a = r->fixed_length);
}

void BindImport(py::module_& m) {
  m.def("read_checkpoint", &ReadCheckpointToPython, "path"_a, py::kw_only(),
        "format"_a = "orbax", "only_items"_a = std::vector<std::string>(),
        "only_paths"_a = std::vector<std::vector<std::string>>(),
        "Reads a checkpoint another library wrote (ckptdb::ReadCheckpoint) "
        "into memory: a dict with format, items (name -> tree; a single-item "
        "source's item is 'default'), item_order, metrics, custom_metadata, "
        "init/commit_timestamp_nsecs, files, array_bytes. only_items / "
        "only_paths (key components as strings) read only those items and "
        "leaves of an Orbax folder (others come back as None, unread).");
  m.def(
      "is_orbax_checkpoint",
      [](const std::string& path) {
        py::gil_scoped_release nogil;
        return orbax::LooksLikeOrbaxCheckpoint(path);
      },
      "path"_a, "True if `path` is an Orbax item or step folder.");
  m.def("orbax_steps", &OrbaxStepsToPython, "root"_a,
        "The committed steps of an Orbax CheckpointManager root: a dict with "
        "steps (dicts of step, name, dir, by step), skipped ('path "
        "(reason)'), prefix and fixed_length.");
}

// Module-level functions: dtype names, step names, test helpers.
void BindFunctions(py::module_& m) {
  m.def("have_bfloat16", &HaveBFloat16,
        "True if numpy bfloat16 (ml_dtypes) is available.");
  m.def(
      "dtype_names",
      [] {
        std::vector<std::string> out;
        for (int i = 0; i < kNumDTypes; ++i) {
          out.emplace_back(DTypeName(static_cast<DType>(i)));
        }
        return out;
      },
      "Names of the element types the core stores.");
  m.def(
      "format_step_name",
      [](int64_t step, const std::string& prefix, std::optional<int> length) {
        return FormatStepName(step, prefix, length);
      },
      "step"_a, "prefix"_a = "", "fixed_length"_a = py::none());
  m.def(
      "status_exception",
      [](const std::string& code, const std::string& message) {
        for (int c = 0; c <= 16; ++c) {
          auto sc = static_cast<absl::StatusCode>(c);
          if (absl::StatusCodeToString(sc) == code) {
            return StatusToException(absl::Status(sc, message));
          }
        }
        throw py::value_error("unknown status code " + code);
      },
      "The exception object ckptdb raises for an absl status code name "
      "(for tests).");

  m.def("evaluate_policy", &EvaluatePolicy, "spec"_a, "infos"_a, "now_ns"_a,
        "Evaluates a preservation policy spec over (step, time_ns, metrics) "
        "tuples.");
}

void BindCheckpointers(py::module_& m) {
  py::class_<PyCheckpointer>(m, "Checkpointer")
      .def(py::init<py::handle>(), "tuning"_a = py::none())
      .def("save", &PyCheckpointer::Save, "path"_a, "tree"_a, py::kw_only(),
           "force"_a = false, "save_args"_a = py::none(),
           "custom_metadata"_a = py::none())
      .def("restore", &PyCheckpointer::Restore, "path"_a, py::kw_only(),
           "target"_a = py::none(), "use_target"_a = false,
           "partial_restore"_a = false, "restore_args"_a = py::none(),
           "step"_a = py::none(), "item"_a = "default", "in_place"_a = false)
      .def("metadata", &PyCheckpointer::Metadata, "path"_a, py::kw_only(),
           "step"_a = py::none(), "item"_a = "default")
      .def("info", &PyCheckpointer::Info, "path"_a);

  py::class_<PySaveFuture>(m, "SaveFuture",
                           "Completion of one background save.")
      .def("done", &PySaveFuture::Done)
      .def("wait", &PySaveFuture::Wait);

  py::class_<PyAsyncCheckpointer>(m, "AsyncCheckpointer")
      .def(py::init<py::handle>(), "tuning"_a = py::none())
      .def("save", &PyAsyncCheckpointer::Save, "path"_a, "tree"_a,
           py::kw_only(), "force"_a = false, "save_args"_a = py::none(),
           "custom_metadata"_a = py::none(), "borrow"_a = false)
      .def("restore", &PyAsyncCheckpointer::Restore, "path"_a, py::kw_only(),
           "target"_a = py::none(), "use_target"_a = false,
           "partial_restore"_a = false, "restore_args"_a = py::none(),
           "step"_a = py::none(), "item"_a = "default", "in_place"_a = false)
      .def("metadata", &PyAsyncCheckpointer::Metadata, "path"_a, py::kw_only(),
           "step"_a = py::none(), "item"_a = "default")
      .def("wait_until_finished", &PyAsyncCheckpointer::WaitUntilFinished)
      .def("check_for_errors", &PyAsyncCheckpointer::CheckForErrors)
      .def("is_saving", &PyAsyncCheckpointer::IsSaving)
      .def("close", &PyAsyncCheckpointer::Close);
}

void BindCheckpointManager(py::module_& m) {
  py::class_<PyManager>(m, "CheckpointManager")
      .def(py::init<const std::string&, py::dict, const std::string&>(),
           "directory"_a, "options"_a, "run"_a = "")
      .def("save", &PyManager::Save, "step"_a, "items"_a, py::kw_only(),
           "metrics"_a = py::none(), "has_metrics"_a = false, "force"_a = false,
           "item_save_args"_a = py::none(), "custom_metadata"_a = py::none(),
           "borrow"_a = false)
      .def("restore", &PyManager::Restore, "step"_a, py::kw_only(),
           "item"_a = "default", "target"_a = py::none(),
           "use_target"_a = false, "partial_restore"_a = false,
           "restore_args"_a = py::none(), "in_place"_a = false)
      .def("all_steps", &PyManager::AllSteps)
      .def("latest_step", &PyManager::LatestStep)
      .def("best_step", &PyManager::BestStep)
      .def("should_save", &PyManager::ShouldSave, "step"_a)
      .def("metrics", &PyManager::Metrics, "step"_a)
      .def("step_metadata", &PyManager::StepMetadata, "step"_a)
      .def("item_metadata", &PyManager::ItemMetadata, "step"_a,
           "item"_a = "default")
      .def("step_name", &PyManager::StepName, "step"_a)
      .def("delete", &PyManager::Delete, "step"_a)
      .def("reload", &PyManager::Reload)
      .def("apply_retention", &PyManager::ApplyRetention)
      .def("collect_garbage", &PyManager::CollectGarbage)
      .def("wait_until_finished", &PyManager::WaitUntilFinished)
      .def("check_for_errors", &PyManager::CheckForErrors)
      .def("is_saving_in_progress", &PyManager::IsSavingInProgress)
      .def("close", &PyManager::Close)
      .def_property_readonly("directory", &PyManager::Directory)
      .def_property_readonly("following", &PyManager::Following)
      .def_property_readonly("run", &PyManager::Run)
      .def("fork", &PyManager::Fork, "from_run"_a, "step"_a, "new_run"_a);
}

}  // namespace

void InitModule(py::module_& m) {
  m.doc() = "Compiled core of the ckptdb Python package (use `import ckptdb`).";
  RegisterExceptions(m);
  // Imports numpy, collections.abc and (if present) ml_dtypes now, under the
  // import lock: done lazily, two threads converting their first trees at
  // once could deadlock (one in the static's initialisation guard holding
  // the GIL, the other importing and waiting for the GIL).
  HaveBFloat16();
  BindArrayMetadata(m);
  BindFunctions(m);
  BindImport(m);
  BindCheckpointers(m);
  BindCheckpointManager(m);
}

}  // namespace ckptdb::python

PYBIND11_MODULE(_ckptdb, m) { ckptdb::python::InitModule(m); }
