#include "python/src/convert.h"

#include <pybind11/numpy.h>

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/numpy_dtype.h"

namespace ckptdb::python {

using namespace pybind11::literals;  // NOLINT: "name"_a
namespace {

// numpy's array flags (numpy/ndarraytypes.h).
constexpr int kNpyCContiguous = 0x0001;
constexpr int kNpyAligned = 0x0100;
constexpr int kNpyWriteable = 0x0400;

[[noreturn]] void Raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// Deepest tree FromPython accepts (a cycle would otherwise recurse until
// the C stack overflows).
constexpr int kMaxDepth = 512;

// Python objects looked up once. Leaked on purpose: they must outlive every
// static destructor that could run after the interpreter is gone.
struct Refs {
  py::object np_generic;
  py::object np_asarray;
  py::object np_ascontiguousarray;
  py::object abc_mapping;
  py::object bfloat16;  // ml_dtypes.bfloat16's dtype, or None
};

Refs& GetRefs() {
  static Refs* refs = [] {
    auto* r = new Refs();
    py::module_ np = py::module_::import("numpy");
    r->np_generic = np.attr("generic");
    r->np_asarray = np.attr("asarray");
    r->np_ascontiguousarray = np.attr("ascontiguousarray");
    r->abc_mapping = py::module_::import("collections.abc").attr("Mapping");
    try {
      r->bfloat16 =
          np.attr("dtype")(py::module_::import("ml_dtypes").attr("bfloat16"));
    } catch (py::error_already_set&) {
      r->bfloat16 = py::none();
    }
    return r;
  }();
  return *refs;
}

// Deleter of an Array owner that is a strong reference to a Python object
// (a numpy array whose memory the Array points into).
struct PyRefDeleter {
  void operator()(void* p) const {
    if (p == nullptr || PythonFinalizing()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(static_cast<PyObject*>(p));
  }
};

std::shared_ptr<void> HoldRef(py::handle h) {
  h.inc_ref();
  return std::shared_ptr<void>(h.ptr(), PyRefDeleter());
}

// ---- exception classes ----------------------------------------------------

struct ExceptionClasses {
  PyObject* error = nullptr;
  PyObject* not_found = nullptr;
  PyObject* already_exists = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* corruption = nullptr;
  PyObject* failed_precondition = nullptr;
  PyObject* resource_exhausted = nullptr;
  PyObject* unavailable = nullptr;
  PyObject* permission_denied = nullptr;
  PyObject* unimplemented = nullptr;
  PyObject* deadline_exceeded = nullptr;
  PyObject* internal = nullptr;
};

ExceptionClasses& Exceptions() {
  static ExceptionClasses* e = new ExceptionClasses();
  return *e;
}

PyObject* MakeException(py::module_& m, const char* name, const char* doc,
                        std::vector<PyObject*> bases) {
  py::tuple t(bases.size());
  for (size_t i = 0; i < bases.size(); ++i) {
    t[i] = py::reinterpret_borrow<py::object>(bases[i]);
  }
  const std::string qualified = absl::StrCat("ckptdb.", name);
  PyObject* cls =
      PyErr_NewExceptionWithDoc(qualified.c_str(), doc, t.ptr(), nullptr);
  if (cls == nullptr) throw py::error_already_set();
  m.attr(name) = py::reinterpret_borrow<py::object>(cls);
  return cls;  // the module keeps it alive; this reference is leaked
}

PyObject* ClassFor(absl::StatusCode code) {
  const ExceptionClasses& e = Exceptions();
  switch (code) {
    case absl::StatusCode::kNotFound:
      return e.not_found;
    case absl::StatusCode::kAlreadyExists:
      return e.already_exists;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return e.invalid_argument;
    case absl::StatusCode::kDataLoss:
      return e.corruption;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return e.failed_precondition;
    case absl::StatusCode::kResourceExhausted:
      return e.resource_exhausted;
    case absl::StatusCode::kUnavailable:
      return e.unavailable;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return e.permission_denied;
    case absl::StatusCode::kUnimplemented:
      return e.unimplemented;
    case absl::StatusCode::kDeadlineExceeded:
      return e.deadline_exceeded;
    default:
      return e.internal;
  }
}

// ---- dtype helpers --------------------------------------------------------

std::string DTypeRepr(const py::dtype& dt) {
  return py::str(dt.attr("str")).cast<std::string>() + " (" +
         py::str(dt.attr("name")).cast<std::string>() + ")";
}

std::string SupportedDTypes() {
  return "bool, int8/16/32/64, uint8/16/32/64, float16, float32, float64, "
         "complex64, complex128, bfloat16 (ml_dtypes)";
}

// ---- Python -> Tree -------------------------------------------------------

// Sequences element by element (this file does without pybind11/stl.h,
// whose casters must be seen alike by every file that converts a type).
Shape IntsOf(py::handle seq) {
  Shape out;
  for (py::handle v : seq) out.push_back(v.cast<int64_t>());
  return out;
}

std::vector<std::string> StringsOf(py::handle seq) {
  std::vector<std::string> out;
  for (py::handle v : seq) out.push_back(py::str(v).cast<std::string>());
  return out;
}

Sharding ShardingFromParts(py::handle names, py::handle sizes,
                           py::handle processes, py::handle spec) {
  Sharding s;
  s.mesh.axis_names = StringsOf(names);
  s.mesh.axis_sizes = IntsOf(sizes);
  for (int64_t p : IntsOf(processes)) {
    s.mesh.device_processes.push_back(static_cast<int>(p));
  }
  for (py::handle entry : spec) s.spec.push_back(StringsOf(entry));
  return s;
}

class FromPy {
 public:
  explicit FromPy(TreeUse use) : use_(use) {}

  Tree Convert(py::handle obj, const TreePath& path, int depth) {
    if (depth > kMaxDepth) {
      throw py::value_error(absl::StrCat("tree is deeper than ", kMaxDepth,
                                         " levels at '", path.DisplayString(),
                                         "' (does it contain itself?)"));
    }
    PyObject* o = obj.ptr();
    if (o == Py_None) return Tree::None();
    if (o == Py_Ellipsis) return Tree::Placeholder();
    if (PyBool_Check(o)) return Tree::Bool(o == Py_True);
    Refs& refs = GetRefs();
    // numpy scalars before Python scalars: np.float64 is a float subclass.
    if (PyObject_IsInstance(o, refs.np_generic.ptr()) == 1) {
      py::array a =
          py::reinterpret_steal<py::array>(refs.np_asarray(obj).release());
      if (FromNumpyDType(a.dtype()).has_value()) return ArrayLeaf(a, path);
      if (PyUnicode_Check(o)) return StringLeaf(obj, path);  // np.str_
      throw py::type_error(
          absl::StrCat("ckptdb cannot ", Verb(), " the numpy scalar of dtype ",
                       DTypeRepr(a.dtype()), " at '", path.DisplayString(),
                       "' (supported: ", SupportedDTypes(), ")"));
    }
    if (PyLong_Check(o)) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
      if (overflow != 0) {
        Raise(PyExc_OverflowError,
              absl::StrCat("the int ", py::repr(obj).cast<std::string>(),
                           " at '", path.DisplayString(),
                           "' does not fit in 64 bits (store it as a str "
                           "or an array)"));
      }
      if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
      return Tree::Int(v);
    }
    if (PyFloat_Check(o)) return Tree::Float(PyFloat_AS_DOUBLE(o));
    if (PyUnicode_Check(o)) return StringLeaf(obj, path);
    if (py::isinstance<py::array>(obj)) {
      return ArrayLeaf(py::reinterpret_borrow<py::array>(obj), path);
    }
    if (PyDict_Check(o) ||
        PyObject_IsInstance(o, refs.abc_mapping.ptr()) == 1) {
      Tree out = Tree::Dict();
      py::object items = obj.attr("items")();
      for (py::handle kv : items) {
        py::tuple pair = py::reinterpret_borrow<py::tuple>(kv);
        DictKey key = Key(pair[0], path);
        // Python dict keys are distinct (and map to distinct DictKeys).
        out.InsertNew(key, Convert(pair[1], path.Child(key), depth + 1));
      }
      return out;
    }
    if (PyList_Check(o) || PyTuple_Check(o)) {
      Tree out = PyList_Check(o) ? Tree::List() : Tree::Tuple();
      int64_t i = 0;
      for (py::handle child : obj) {
        out.Append(Convert(child, path.Child(i), depth + 1));
        ++i;
      }
      return out;
    }
    if (py::hasattr(obj, "_ckptdb_parts")) return ShardedLeaf(obj, path);
    if (py::hasattr(obj, "addressable_shards") &&
        py::hasattr(obj, "is_fully_addressable") &&
        !py::bool_(obj.attr("is_fully_addressable")).cast<bool>()) {
      // A jax.Array spread over processes: its local shards.
      py::object local =
          py::module_::import("ckptdb.sharding").attr("to_ckptdb")(obj);
      if (py::hasattr(local, "_ckptdb_parts")) return ShardedLeaf(local, path);
    }
    if (py::hasattr(obj, "__array__")) {  // e.g. jax.Array: host copy
      py::array a =
          py::reinterpret_steal<py::array>(refs.np_asarray(obj).release());
      return ArrayLeaf(a, path);
    }
    if (PyBytes_Check(o)) {
      throw py::type_error(absl::StrCat(
          "ckptdb cannot ", Verb(), " bytes at '", path.DisplayString(),
          "': store a str, or a uint8 array (np.frombuffer(b, np.uint8))"));
    }
    throw py::type_error(absl::StrCat(
        "ckptdb cannot ", Verb(), " a value of type ",
        py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>(),
        " at '", path.DisplayString(),
        "' (leaves may be None, bool, int, float, str, numpy arrays and "
        "numpy scalars; containers dict, list and tuple)"));
  }

 private:
  // What an error says ckptdb cannot do with a value: a target's leaves
  // are restored into, not stored.
  const char* Verb() const {
    return use_ == TreeUse::kSave ? "store" : "restore into";
  }

  Tree StringLeaf(py::handle obj, const TreePath& path) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(obj.ptr(), &n);
    if (s == nullptr) throw py::error_already_set();
    return Tree::String(std::string(s, static_cast<size_t>(n)));
  }

  DictKey Key(py::handle k, const TreePath& path) {
    PyObject* o = k.ptr();
    if (PyUnicode_Check(o)) {
      Py_ssize_t n = 0;
      const char* s = PyUnicode_AsUTF8AndSize(o, &n);
      if (s == nullptr) throw py::error_already_set();
      return DictKey(std::string(s, static_cast<size_t>(n)));
    }
    if (!PyBool_Check(o) && PyIndex_Check(o)) {  // int, numpy integers
      py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(o));
      if (!i) throw py::error_already_set();
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
      if (overflow != 0) {
        throw py::value_error(
            absl::StrCat("dict key ", py::repr(k).cast<std::string>(), " at '",
                         path.DisplayString(), "' does not fit in 64 bits"));
      }
      return DictKey(static_cast<int64_t>(v));
    }
    throw py::type_error(absl::StrCat(
        "dict keys must be str or int; found ", py::repr(k).cast<std::string>(),
        " (",
        py::str(py::type::handle_of(k).attr("__name__")).cast<std::string>(),
        ") at '", path.DisplayString(), "'"));
  }

  // A ckptdb.ShardedArray: its local shards, borrowed.
  Tree ShardedLeaf(py::handle obj, const TreePath& path) {
    py::tuple parts = obj.attr("_ckptdb_parts")();
    ShardedArray out;
    out.global_shape = IntsOf(parts[0]);
    Sharding s = ShardingFromParts(parts[2], parts[3], parts[4], parts[5]);
    out.sharding = std::move(s);
    out.process = obj.attr("_ckptdb_process")().cast<int>();
    py::dtype dt = py::dtype::from_args(parts[1]);
    std::optional<DType> dtype = FromNumpyDType(dt);
    if (!dtype) {
      throw py::type_error(
          absl::StrCat("ckptdb cannot ", Verb(), " a sharded array of dtype ",
                       DTypeRepr(dt), " at '", path.DisplayString(), "'"));
    }
    out.dtype = *dtype;
    for (py::handle shard : parts[6]) {
      py::tuple st = py::reinterpret_borrow<py::tuple>(shard);
      Tree leaf = ArrayLeaf(py::reinterpret_borrow<py::array>(st[1]), path);
      out.shards.push_back(
          {Box{IntsOf(st[0]), leaf.array().shape()}, leaf.array()});
    }
    return Tree::Sharded(std::move(out));
  }

  Tree ArrayLeaf(py::array a, const TreePath& path) {
    std::optional<DType> dtype = FromNumpyDType(a.dtype());
    if (!dtype.has_value()) {
      // A supported type in the other byte order: saving converts it (a
      // copy); a target of that kind is not filled in place.
      py::dtype native = a.dtype().attr("newbyteorder")("=");
      dtype = FromNumpyDType(native);
      if (!dtype.has_value()) {
        throw py::type_error(
            absl::StrCat("ckptdb cannot ", Verb(), " an array of dtype ",
                         DTypeRepr(a.dtype()), " at '", path.DisplayString(),
                         "' (supported: ", SupportedDTypes(), ")"));
      }
      if (use_ == TreeUse::kSave) {
        a = py::reinterpret_steal<py::array>(
            a.attr("astype")(native).release());
      } else {
        return Tree(Array::Share(*dtype, Shape(a.shape(), a.shape() + a.ndim()),
                                 HoldRef(a), const_cast<void*>(a.data()),
                                 /*writable=*/false));
      }
    }
    if (use_ == TreeUse::kTarget) {  // structure only: never written
      return Tree(Array::Share(*dtype, Shape(a.shape(), a.shape() + a.ndim()),
                               HoldRef(a), const_cast<void*>(a.data()),
                               /*writable=*/false));
    }
    const int flags = a.flags();
    bool in_place = (flags & kNpyCContiguous) && (flags & kNpyAligned);
    if (!in_place && use_ == TreeUse::kSave) {
      a = py::reinterpret_steal<py::array>(
          GetRefs().np_ascontiguousarray(a).release());
      in_place = true;
    }
    const bool writable = in_place && (a.flags() & kNpyWriteable);
    Shape shape(a.shape(), a.shape() + a.ndim());
    return Tree(Array::Share(*dtype, std::move(shape), HoldRef(a),
                             const_cast<void*>(a.data()), writable));
  }

  TreeUse use_;
};

// ---- Tree -> Python -------------------------------------------------------

py::object StrToPy(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(
      s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

py::object KeyToPy(const DictKey& k) {
  if (k.is_int()) return py::int_(k.int_value());
  return StrToPy(k.str());
}

bool SameShape(const py::array& a, const Shape& shape) {
  if (a.ndim() != static_cast<py::ssize_t>(shape.size())) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (a.shape(static_cast<py::ssize_t>(i)) != shape[i]) return false;
  }
  return true;
}

py::object ArrayToPy(const Array& a, const TreePath& path) {
  // Filled in place: hand back the target's own numpy array.
  if (a.owner() != nullptr &&
      std::get_deleter<PyRefDeleter>(a.owner()) != nullptr) {
    py::handle o(static_cast<PyObject*>(a.owner().get()));
    if (py::isinstance<py::array>(o)) {
      py::array arr = py::reinterpret_borrow<py::array>(o);
      if (arr.data() == a.data() && SameShape(arr, a.shape()) &&
          FromNumpyDType(arr.dtype()) == a.dtype()) {
        return std::move(arr);
      }
    }
  }
  py::dtype dt = ToNumpyDType(a.dtype(), path.DisplayString());
  std::vector<py::ssize_t> shape(a.shape().begin(), a.shape().end());
  if (a.owner() == nullptr) {  // borrowed memory: copy it
    return py::array(dt, shape, a.data());
  }
  auto* keep = new std::shared_ptr<void>(a.owner());
  py::capsule base(
      keep, [](void* p) { delete static_cast<std::shared_ptr<void>*>(p); });
  return py::array(dt, shape, a.data(), base);
}

// Rebuilds a container with the target's Python type when it is not the
// plain one (namedtuple, OrderedDict, other Mapping / tuple subclasses);
// falls back to the plain container if that type cannot be built so.
py::object WithTargetType(py::object plain, py::handle target, bool is_tuple) {
  if (!target || target.is_none()) return plain;
  py::handle type = py::type::handle_of(target);
  if (is_tuple) {
    if (type.ptr() == reinterpret_cast<PyObject*>(&PyTuple_Type)) return plain;
    if (!PyTuple_Check(target.ptr())) return plain;
    try {
      if (py::hasattr(target, "_fields")) {  // namedtuple
        return type(*plain);
      }
      return type(plain);
    } catch (py::error_already_set&) {
      return plain;
    }
  }
  if (type.ptr() == reinterpret_cast<PyObject*>(&PyDict_Type)) return plain;
  if (PyList_Check(target.ptr())) return plain;
  try {
    return type(plain);
  } catch (py::error_already_set&) {
    return plain;
  }
}

// Children of a target container, in the order FromPython visited them.
std::vector<py::object> TargetChildren(py::handle target, size_t expected) {
  std::vector<py::object> out;
  if (!target || target.is_none()) return out;
  PyObject* o = target.ptr();
  if (PyList_Check(o) || PyTuple_Check(o)) {
    for (py::handle c : target)
      out.push_back(py::reinterpret_borrow<py::object>(c));
  } else if (PyDict_Check(o) ||
             PyObject_IsInstance(o, GetRefs().abc_mapping.ptr()) == 1) {
    for (py::handle c : target.attr("values")()) {
      out.push_back(py::reinterpret_borrow<py::object>(c));
    }
  }
  if (out.size() != expected) out.clear();
  return out;
}

// A ckptdb.ShardedArray (ckptdb.sharding._from_parts).
py::object ShardedToPy(const ShardedArray& a, const TreePath& path) {
  py::list names, sizes, processes, spec, shards;
  for (const std::string& n : a.sharding.mesh.axis_names) names.append(n);
  for (int64_t v : a.sharding.mesh.axis_sizes) sizes.append(v);
  for (int p : a.sharding.mesh.device_processes) processes.append(p);
  for (size_t d = 0; d < a.global_shape.size(); ++d) {
    py::list axes;
    if (d < a.sharding.spec.size()) {
      for (const std::string& n : a.sharding.spec[d]) axes.append(n);
    }
    spec.append(py::tuple(axes));
  }
  for (const Shard& s : a.shards) {
    py::list start;
    for (int64_t v : s.box.start) start.append(v);
    shards.append(py::make_tuple(py::tuple(start), ArrayToPy(s.data, path)));
  }
  py::object from_parts =
      py::module_::import("ckptdb.sharding").attr("_from_parts");
  py::list shape;
  for (int64_t v : a.global_shape) shape.append(v);
  return from_parts(py::tuple(shape),
                    ToNumpyDType(a.dtype, path.DisplayString()),
                    py::tuple(names), py::tuple(sizes), py::tuple(processes),
                    py::tuple(spec), shards, "process_index"_a = a.process);
}

py::object ToPy(const Tree& t, py::handle target, const TreePath& path) {
  switch (t.kind()) {
    case Tree::Kind::kNone:
      return py::none();
    case Tree::Kind::kPlaceholder:
      return py::reinterpret_borrow<py::object>(Py_Ellipsis);
    case Tree::Kind::kBool:
      return py::bool_(t.bool_value());
    case Tree::Kind::kInt:
      return py::int_(t.int_value());
    case Tree::Kind::kFloat:
      return py::float_(t.float_value());
    case Tree::Kind::kString:
      return StrToPy(t.string_value());
    case Tree::Kind::kArray:
      return ArrayToPy(t.array(), path);
    case Tree::Kind::kShardedArray:
      return ShardedToPy(*t.sharded(), path);
    case Tree::Kind::kList:
    case Tree::Kind::kTuple: {
      std::vector<py::object> tc = TargetChildren(target, t.size());
      py::list items(t.size());
      for (size_t i = 0; i < t.size(); ++i) {
        items[i] = ToPy(t.children()[i], tc.empty() ? py::handle() : tc[i],
                        path.Child(static_cast<int64_t>(i)));
      }
      if (t.kind() == Tree::Kind::kList) return std::move(items);
      return WithTargetType(py::tuple(items), target, /*is_tuple=*/true);
    }
    case Tree::Kind::kDict: {
      std::vector<py::object> tc = TargetChildren(target, t.size());
      py::dict d;
      for (size_t i = 0; i < t.size(); ++i) {
        const DictKey& k = t.keys()[i];
        d[KeyToPy(k)] = ToPy(t.children()[i], tc.empty() ? py::handle() : tc[i],
                             path.Child(k));
      }
      return WithTargetType(std::move(d), target, /*is_tuple=*/false);
    }
  }
  return py::none();
}

py::object MetaToPy(const TreeMetadata& m) {
  switch (m.kind) {
    case Tree::Kind::kArray: {
      ArrayMetadataPy a;
      a.shape = m.array.shape;
      a.dtype_name = std::string(DTypeName(m.array.dtype));
      a.source_dtype_name = std::string(DTypeName(m.array.source_dtype));
      a.nbytes = m.array.nbytes;
      a.chunk_count = m.array.chunk_count;
      a.is_inline = m.array.is_inline;
      return py::cast(std::move(a));
    }
    case Tree::Kind::kList:
    case Tree::Kind::kTuple: {
      py::list items;
      for (const TreeMetadata& c : m.children) items.append(MetaToPy(c));
      if (m.kind == Tree::Kind::kList) return std::move(items);
      return py::tuple(items);
    }
    case Tree::Kind::kDict: {
      py::dict d;
      for (size_t i = 0; i < m.children.size(); ++i) {
        d[KeyToPy(m.keys[i])] = MetaToPy(m.children[i]);
      }
      return std::move(d);
    }
    default:
      return ToPy(m.scalar, py::handle(), TreePath());
  }
}

}  // namespace

bool PythonFinalizing() {
  if (!Py_IsInitialized()) return true;
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

PyObjectHolder::~PyObjectHolder() {
  if (!obj_) return;
  if (PythonFinalizing()) {
    obj_.release();  // leak: the interpreter is going away
    return;
  }
  py::gil_scoped_acquire gil;
  obj_ = py::object();
}

CallbackErrors::~CallbackErrors() {
  if (value_ == nullptr || PythonFinalizing()) return;
  py::gil_scoped_acquire gil;
  Py_CLEAR(value_);
}

void CallbackErrors::Record(py::error_already_set& e) {
  absl::MutexLock l(&mu_);
  if (value_ != nullptr) return;  // the first one wins
  value_ = e.value().inc_ref().ptr();
}

void CallbackErrors::RaiseIfAny() {
  PyObject* v;
  {
    absl::MutexLock l(&mu_);
    v = value_;
    value_ = nullptr;
  }
  if (v == nullptr) return;
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(v)), v);
  Py_DECREF(v);
  throw py::error_already_set();
}

// ---- exceptions -----------------------------------------------------------

void RegisterExceptions(py::module_& m) {
  ExceptionClasses& e = Exceptions();
  e.error = MakeException(m, "Error",
                          "Base class of the errors ckptdb's C++ core reports.",
                          {PyExc_Exception});
  e.not_found = MakeException(
      m, "NotFoundError",
      "A step, checkpoint, item or database does not exist (absl NotFound).",
      {e.error, PyExc_FileNotFoundError});
  e.already_exists = MakeException(
      m, "AlreadyExistsError",
      "A checkpoint or step exists already (absl AlreadyExists). Also a "
      "ValueError, as Orbax raises for an existing destination or step.",
      {e.error, PyExc_FileExistsError, PyExc_ValueError});
  e.invalid_argument = MakeException(
      m, "InvalidArgumentError",
      "Bad option, bad tree, or a restore target that does not match the "
      "checkpoint (absl InvalidArgument).",
      {e.error, PyExc_ValueError});
  e.corruption = MakeException(
      m, "CorruptionError",
      "Stored bytes failed a checksum, hash or verifier check; the message "
      "names the step and leaf (absl DataLoss).",
      {e.error, PyExc_IOError});
  e.failed_precondition =
      MakeException(m, "FailedPreconditionError",
                    "Closed, read-only, busy (locked) or foreign database "
                    "(absl FailedPrecondition / Aborted).",
                    {e.error, PyExc_RuntimeError});
  e.resource_exhausted =
      MakeException(m, "ResourceExhaustedError",
                    "The disk is full or memory could not be allocated "
                    "(absl ResourceExhausted).",
                    {e.error, PyExc_OSError});
  e.unavailable = MakeException(m, "UnavailableError",
                                "A transient I/O failure (absl Unavailable).",
                                {e.error, PyExc_IOError});
  e.permission_denied =
      MakeException(m, "PermissionDeniedError", "absl PermissionDenied.",
                    {e.error, PyExc_PermissionError});
  e.unimplemented =
      MakeException(m, "UnimplementedError", "absl Unimplemented.",
                    {e.error, PyExc_NotImplementedError});
  e.deadline_exceeded =
      MakeException(m, "DeadlineExceededError", "absl DeadlineExceeded.",
                    {e.error, PyExc_TimeoutError});
  e.internal = MakeException(
      m, "InternalError",
      "An unexpected RocksDB or OS failure (absl Internal and other codes).",
      {e.error, PyExc_RuntimeError});
}

py::object StatusToException(const absl::Status& status) {
  PyObject* cls = ClassFor(status.code());
  py::object exc =
      py::reinterpret_borrow<py::object>(cls)(std::string(status.message()));
  exc.attr("code") = std::string(absl::StatusCodeToString(status.code()));
  return exc;
}

void ThrowStatus(const absl::Status& status) {
  py::object exc = StatusToException(status);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

// ---- dtypes ---------------------------------------------------------------

std::optional<DType> FromNumpyDType(const py::dtype& dt) {
  const py::ssize_t size = dt.itemsize();
  if (size > 1 && !dt.attr("isnative").cast<bool>()) return std::nullopt;
  const std::optional<DType> dtype =
      internal::DTypeForNumpyKind(dt.kind(), static_cast<size_t>(size));
  // Of the void ('V') dtypes, only ml_dtypes' bfloat16 holds numbers.
  if (dtype == DType::kBFloat16 &&
      py::str(dt.attr("name")).cast<std::string>() != DTypeName(*dtype)) {
    return std::nullopt;
  }
  return dtype;
}

bool HaveBFloat16() { return !GetRefs().bfloat16.is_none(); }

py::dtype ToNumpyDType(DType dtype, const std::string& where) {
  if (dtype == DType::kBFloat16) {
    if (!HaveBFloat16()) {
      throw py::type_error(absl::StrCat(
          "leaf '", where,
          "' is a bfloat16 array and numpy has no bfloat16 without the "
          "ml_dtypes package (not importable here). Install ml_dtypes, or "
          "restore it converted: restore_args={... "
          "ckptdb.RestoreArgs(dtype=np.float32)} for that leaf"));
    }
    return py::reinterpret_borrow<py::dtype>(GetRefs().bfloat16);
  }
  return py::dtype(std::string(DTypeName(dtype)));
}

// ---- trees ----------------------------------------------------------------

Tree FromPython(py::handle obj, TreeUse use) {
  FromPy c(use);
  return c.Convert(obj, TreePath(), 0);
}

py::object ToPython(const Tree& tree, py::handle target) {
  return ToPy(tree, target, TreePath());
}

py::object MetadataToPython(const TreeMetadata& meta) { return MetaToPy(meta); }

std::map<std::string, DType> ParseDTypeMap(py::handle dict) {
  std::map<std::string, DType> out;
  if (!dict || dict.is_none()) return out;
  for (auto kv : py::reinterpret_borrow<py::dict>(dict)) {
    if (kv.second.is_none()) continue;
    const std::string path = py::str(kv.first).cast<std::string>();
    const std::string name = py::str(kv.second).cast<std::string>();
    absl::StatusOr<DType> d = DTypeFromName(name);
    if (!d.ok()) {
      throw py::value_error(
          absl::StrCat("leaf '", path, "': ", d.status().message()));
    }
    out[path] = *d;
  }
  return out;
}

void ParseRestoreArgs(py::handle dict, RestoreOptions* out) {
  if (!dict || dict.is_none()) return;
  for (auto kv : py::reinterpret_borrow<py::dict>(dict)) {
    if (kv.second.is_none()) continue;
    const std::string path = py::str(kv.first).cast<std::string>();
    py::handle dtype = kv.second;
    py::tuple full;
    if (py::isinstance<py::tuple>(kv.second)) {
      full = py::reinterpret_borrow<py::tuple>(kv.second);
      dtype = full[0];
    }
    LeafRestoreArgs& args = out->restore_args[path];
    if (!dtype.is_none()) {
      absl::StatusOr<DType> d =
          DTypeFromName(py::str(dtype).cast<std::string>());
      if (!d.ok()) {
        throw py::value_error(
            absl::StrCat("leaf '", path, "': ", d.status().message()));
      }
      args.dtype = *d;
    }
    if (full.size() == 0) continue;
    if (!full[1].is_none()) {
      py::tuple s = full[1];
      args.sharding = ShardingFromParts(s[0], s[1], s[2], s[3]);
    }
    if (!full[2].is_none()) args.global_shape = IntsOf(full[2]);
    args.strict = full[3].cast<bool>();
    out->process = full[4].cast<int>();
  }
}

}  // namespace ckptdb::python
