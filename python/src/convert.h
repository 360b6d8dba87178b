// Conversions between Python objects and ckptdb values, and the mapping of
// absl::Status codes to Python exceptions.
//
// Every function here needs the GIL, except where a comment says otherwise.
//
// Array memory is never copied on the way in: a numpy array becomes an
// Array::Share whose owner holds a reference to the numpy object (the
// reference is dropped with the GIL, from whichever thread releases the
// last handle). On the way out, an Array whose owner is such a reference to
// the very same buffer returns the original numpy object (a restore that
// filled a target in place); any other Array becomes a numpy array over its
// bytes whose base is a capsule holding the Array's storage.
#ifndef CKPTDB_PYTHON_SRC_CONVERT_H_
#define CKPTDB_PYTHON_SRC_CONVERT_H_

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "ckptdb/dtype.h"
#include "ckptdb/metadata.h"
#include "ckptdb/options.h"
#include "ckptdb/tree.h"

namespace ckptdb::python {

namespace py = pybind11;

// True once the interpreter is shutting down: Python objects may then no
// longer be touched from other threads, so references are leaked instead.
bool PythonFinalizing();

// A Python object that may be destroyed from any thread: the destructor
// takes the GIL (or leaks the reference during interpreter shutdown).
class PyObjectHolder {
 public:
  explicit PyObjectHolder(py::object obj) : obj_(std::move(obj)) {}
  ~PyObjectHolder();
  PyObjectHolder(const PyObjectHolder&) = delete;
  PyObjectHolder& operator=(const PyObjectHolder&) = delete;
  const py::object& get() const { return obj_; }

 private:
  py::object obj_;
};

// The first Python exception raised by a callback (best_fn, should_save_fn,
// a Python preservation policy) that ckptdb called from C++, where it could
// not propagate. Thread-safe.
class CallbackErrors {
 public:
  ~CallbackErrors();
  // Records the exception currently described by `e` (with the GIL).
  void Record(py::error_already_set& e) ABSL_LOCKS_EXCLUDED(mu_);
  // Raises the recorded exception, if any, and clears it (with the GIL).
  void RaiseIfAny() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  // A strong reference, or nullptr.
  PyObject* value_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// ---- exceptions -----------------------------------------------------------

// Creates the exception classes in `m` (Error and one subclass per code).
void RegisterExceptions(py::module_& m);
// Raises the Python exception for a non-OK status, with its message.
[[noreturn]] void ThrowStatus(const absl::Status& status);
// The exception object for a non-OK status (not raised).
py::object StatusToException(const absl::Status& status);
inline void CheckStatus(const absl::Status& status) {
  if (!status.ok()) ThrowStatus(status);
}

// ---- dtypes ---------------------------------------------------------------

// The ckptdb DType of a numpy dtype; nullopt if unsupported (including
// non-native byte order).
std::optional<DType> FromNumpyDType(const py::dtype& dt);
// The numpy dtype of a DType. For bfloat16 this is ml_dtypes.bfloat16;
// TypeError naming `where` when ml_dtypes cannot be imported.
py::dtype ToNumpyDType(DType dtype, const std::string& where);
// True if ml_dtypes (and so numpy bfloat16) is available.
bool HaveBFloat16();

// ---- trees ----------------------------------------------------------------

enum class TreeUse {
  kSave,    // arrays must be readable in place; others are made contiguous
  kTarget,  // a restore target giving structure only: its arrays are left
            // untouched and restored leaves are new arrays (Orbax's rule)
  kTargetInPlace,  // a restore target whose arrays are filled in place when
                   // dtype and shape match (ckptdb's opt-in, no allocation)
};

// Converts a Python tree. TypeError / OverflowError / ValueError naming the
// leaf path for values ckptdb cannot store.
Tree FromPython(py::handle obj, TreeUse use);

// Converts a restored tree back. With `target` (the Python object the
// restore target was built from), containers take the target's Python types
// (namedtuples, OrderedDict, ...).
py::object ToPython(const Tree& tree, py::handle target = py::handle());

// Python view of a saved tree's metadata: containers as saved, array leaves
// as ArrayMetadata objects, other leaves as their saved values.
py::object MetadataToPython(const TreeMetadata& meta);

// What MetadataToPython gives for an array leaf (bound as
// ckptdb.ArrayMetadata).
struct ArrayMetadataPy {
  Shape shape;
  std::string dtype_name;         // as stored (and restored)
  std::string source_dtype_name;  // as given to save
  uint64_t nbytes = 0;
  uint64_t chunk_count = 0;
  bool is_inline = false;
};

// Path -> dtype name dictionaries from Python (SaveArgs / RestoreArgs that
// set a dtype), as the C++ options want them.
std::map<std::string, DType> ParseDTypeMap(py::handle dict);
// Restore arguments by leaf path: a dtype name, or a tuple (dtype name or
// None, sharding or None, global shape or None, strict, process index)
// where a sharding is (axis names, axis sizes, device processes, spec
// entries) as ckptdb.sharding._sharding_parts gives it.
void ParseRestoreArgs(py::handle dict, RestoreOptions* out);

}  // namespace ckptdb::python

#endif  // CKPTDB_PYTHON_SRC_CONVERT_H_
