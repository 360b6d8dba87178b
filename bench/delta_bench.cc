// The delta-compression benchmark (issue 18, workload W5):
//
//   W5: float32 weights and Adam's two moments (1 GiB together by default)
//   trained for 10 steps of Adam (learning rate 1e-4) on a synthetic
//   quadratic loss, each step saved. Two CheckpointManager databases side
//   by side, A with delta and compressed chunks (the default) and B with
//   both off, each step saved into both in alternating order:
//     - stored bytes of steps 1..9 (new_bytes) over their logical size, for
//       A (target <= 0.5x), and, as references, zstd (level 3) of each
//       step alone and a borg repository of the same steps (zstd,3);
//     - save time of B over A per step (A's speed as a fraction of B's;
//       target >= 0.8x);
//     - restore of the last step into a target, A over B in alternating
//       pairs (target >= 0.7x).
//   The restore's bound: DecodePlanes alone (one thread, warm buffers) over
//   step 9's chunks coded against their bases, as the store codes them
//   (the bench follows the store's choice of bases), timed
//   against a memcpy of the same bytes; with both restore threads decoding
//   in parallel, restore on/off cannot exceed (restore off's time) /
//   (decode time / 2).
//   W1-like random float32 arrays (no step pays to compress): save and
//   restore speed of A over B in alternating pairs: the decision must cost
//   nothing measurable (reported; expected 1.0x within noise).
//
//   build/bench/ckptdb_delta_bench [--gib 1] [--pairs 5] [--noise 0]
//       [--lr 1e-4] [--warmup 0] [--dir build/bench_data] [--no-borg]
//       [--quick]
//
// --warmup N trains N Adam steps before step 0 (a run checkpointed mid-way:
// the moments are no longer growing from zero).
//
// --noise adds minibatch-like gradient noise (standard deviation, relative
// to the loss's own gradient scale): Adam's first moment then changes much
// more per step. Exit status 1 on a correctness failure (a restore that
// differs); missing a target is reported, not a failure.
#include <malloc.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "bench/baselines.h"
#include "bench/bench_util.h"
#include "ckptdb/checkpoint_manager.h"
#include "core/byte_planes.h"
#include "db/chunk_coding.h"

namespace {

using ckptdb::Array;
using ckptdb::DType;
using ckptdb::Tree;
using namespace ckptdb_bench;  // NOLINT: a benchmark's main file

struct Config {
  double gib = 1;
  int pairs = 5;
  double noise = 0;
  double lr = 1e-4;
  int warmup = 0;  // Adam steps before step 0 (a run checkpointed mid-way)
  std::string dir = CKPTDB_BENCH_DEFAULT_DIR;
  bool borg = true;
  bool quick = false;
};

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
double Uniform(uint64_t x) {  // [0, 1)
  return static_cast<double>(Mix(x) >> 11) * (1.0 / 9007199254740992.0);
}
double Gauss(uint64_t x) {
  const double u1 = Uniform(2 * x) + 1e-300, u2 = Uniform(2 * x + 1);
  return std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Weights and Adam's moments, `arrays` arrays of `n` floats each.
struct Model {
  int arrays = 0;
  size_t n = 0;
  std::vector<std::vector<float>> w, m, v;
  std::vector<std::vector<float>> curvature, target;  // the loss
  int t = 0;

  Model(int arrays_in, size_t n_in) : arrays(arrays_in), n(n_in) {
    w.assign(arrays, std::vector<float>(n));
    m.assign(arrays, std::vector<float>(n, 0.f));
    v.assign(arrays, std::vector<float>(n, 0.f));
    curvature.assign(arrays, std::vector<float>(n));
    target.assign(arrays, std::vector<float>(n));
    for (int a = 0; a < arrays; ++a) {
      for (size_t i = 0; i < n; ++i) {
        w[a][i] = static_cast<float>(0.02 * Gauss(Key(a, i, 0)));
        const uint64_t k = Key(a, i, 1);
        curvature[a][i] = static_cast<float>(std::exp(-4 + 3 * Uniform(k)));
        target[a][i] = static_cast<float>(0.05 * Gauss(k + 7));
      }
    }
  }
  static uint64_t Key(int a, size_t i, uint64_t salt) {
    return (static_cast<uint64_t>(a) << 40) ^ (i << 4) ^ (salt << 56) ^ salt;
  }
  // One Adam step on 0.5 * c_i * (w_i - t_i)^2 (per-element curvature c_i
  // log-uniform in [e^-4, e^-1], target t_i ~ N(0, 0.05)), plus noise.
  void Step(double lr, double noise) {
    ++t;
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    for (int a = 0; a < arrays; ++a) {
      for (size_t i = 0; i < n; ++i) {
        float g = curvature[a][i] * (w[a][i] - target[a][i]);
        if (noise > 0) {
          g += static_cast<float>(noise * 0.01 * Gauss(Key(a, i, 2 + t)));
        }
        m[a][i] = b1 * m[a][i] + (1 - b1) * g;
        v[a][i] = b2 * v[a][i] + (1 - b2) * g * g;
        w[a][i] -= static_cast<float>(lr) * (m[a][i] / bc1) /
                   (std::sqrt(v[a][i] / bc2) + eps);
      }
    }
  }
  size_t Bytes() const { return 3 * arrays * n * sizeof(float); }
  // The state as a tree borrowing the model's memory.
  Tree AsTree() {
    Tree params = Tree::Dict(), mu = Tree::Dict(), nu = Tree::Dict();
    for (int a = 0; a < arrays; ++a) {
      const std::string name = "layer" + std::to_string(a);
      const ckptdb::Shape shape{static_cast<int64_t>(n)};
      params.Insert(name, Array::Borrow(DType::kFloat32, shape, w[a].data()));
      mu.Insert(name, Array::Borrow(DType::kFloat32, shape, m[a].data()));
      nu.Insert(name, Array::Borrow(DType::kFloat32, shape, v[a].data()));
    }
    return Tree::Dict({{"params", std::move(params)},
                       {"opt_state", Tree::Dict({{"mu", std::move(mu)},
                                                 {"nu", std::move(nu)}})},
                       {"step", Tree::Int(t)}});
  }
};

// A tree shaped like `model`'s, over separate buffers (restore targets).
struct Target {
  std::vector<std::vector<float>> bufs;
  Tree tree;
  explicit Target(const Model& model) {
    bufs.assign(3 * model.arrays, std::vector<float>(model.n, 1.f));
    Tree groups[3] = {Tree::Dict(), Tree::Dict(), Tree::Dict()};
    for (int g = 0; g < 3; ++g) {
      for (int a = 0; a < model.arrays; ++a) {
        groups[g].Insert(
            "layer" + std::to_string(a),
            Array::Borrow(DType::kFloat32, {static_cast<int64_t>(model.n)},
                          bufs[g * model.arrays + a].data()));
      }
    }
    tree =
        Tree::Dict({{"params", std::move(groups[0])},
                    {"opt_state", Tree::Dict({{"mu", std::move(groups[1])},
                                              {"nu", std::move(groups[2])}})},
                    {"step", Tree::Int(0)}});
  }
  bool Equals(const Model& model) const {
    for (int a = 0; a < model.arrays; ++a) {
      const std::vector<float>* want[3] = {&model.w[a], &model.m[a],
                                           &model.v[a]};
      for (int g = 0; g < 3; ++g) {
        if (std::memcmp(bufs[g * model.arrays + a].data(), want[g]->data(),
                        model.n * sizeof(float)) != 0) {
          return false;
        }
      }
    }
    return true;
  }
};

std::unique_ptr<ckptdb::CheckpointManager> OpenManager(const std::string& path,
                                                       bool coded) {
  ckptdb::CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.tuning.delta_chunks = coded;
  o.tuning.compress_chunks = coded;
  auto mgr = ckptdb::CheckpointManager::Open(path, o);
  CheckOk(mgr.status(), "open " + path);
  return std::move(*mgr);
}

uint64_t NewBytes(ckptdb::CheckpointManager& mgr, int64_t step) {
  auto info = mgr.StepMetadata(step);
  CheckOk(info.status(), "step metadata");
  return info->new_bytes;
}

double TimedSave(ckptdb::CheckpointManager& mgr, int64_t step, Model& model) {
  const double t0 = Now();
  CheckOk(mgr.Save(step, model.AsTree()).status(), "save");
  return Now() - t0;
}

double TimedRestore(ckptdb::CheckpointManager& mgr, int64_t step,
                    Target* target, const Model& model, const char* what) {
  for (auto& b : target->bufs) std::fill(b.begin(), b.end(), -1.f);
  const double t0 = Now();
  auto r = mgr.Restore(step, target->tree);
  const double t = Now() - t0;
  CheckOk(r.status(), what);
  // The arrays come back in the target's buffers, or are copied there.
  const Tree& got = *r;
  for (int g = 0; g < 3; ++g) {
    const Tree& group =
        g == 0 ? got["params"] : got["opt_state"][g == 1 ? "mu" : "nu"];
    for (int a = 0; a < model.arrays; ++a) {
      const Tree& leaf = group["layer" + std::to_string(a)];
      float* dst = target->bufs[g * model.arrays + a].data();
      if (leaf.array().data() != dst) {
        std::memcpy(dst, leaf.array().data(), model.n * sizeof(float));
      }
    }
  }
  if (!target->Equals(model))
    Fail(std::string(what) + ": restored bytes differ");
  return t;
}

// zstd (level 3) of the whole step, in 64 MiB frames.
uint64_t ZstdBytes(const Model& model) {
  uint64_t total = 0;
  std::vector<char> out(ZSTD_compressBound(64 << 20));
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  auto compress = [&](const std::vector<float>& a) {
    const char* p = reinterpret_cast<const char*>(a.data());
    const size_t bytes = a.size() * sizeof(float);
    for (size_t off = 0; off < bytes; off += 64 << 20) {
      const size_t len = std::min<size_t>(64 << 20, bytes - off);
      const size_t r =
          ZSTD_compressCCtx(cctx, out.data(), out.size(), p + off, len, 3);
      if (ZSTD_isError(r)) Fail("zstd");
      total += r;
    }
  };
  for (int a = 0; a < model.arrays; ++a) {
    compress(model.w[a]);
    compress(model.m[a]);
    compress(model.v[a]);
  }
  ZSTD_freeCCtx(cctx);
  return total;
}

// Appends the step as one file to a borg repository (zstd,3 compression).
void BorgAddStep(const std::string& repo, const std::string& dir,
                 const Model& model, int step) {
  const std::string file = dir + "/state.bin";
  FILE* f = std::fopen(file.c_str(), "wb");
  if (f == nullptr) FailErrno("open " + file);
  for (int a = 0; a < model.arrays; ++a) {
    for (const auto* vec : {&model.w[a], &model.m[a], &model.v[a]}) {
      std::fwrite(vec->data(), sizeof(float), vec->size(), f);
    }
  }
  std::fclose(f);
  std::string out;
  const int rc =
      RunShell("cd '" + dir + "' && borg create --compression " + "zstd,3 '" +
                   repo + "::step" + std::to_string(step) + "' state.bin",
               &out);
  if (rc != 0) Fail("borg create: " + out);
}

std::string Ratio(double r) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.3fx", r);
  return b;
}

// "median [min-max]" of per-pair ratios.
std::string Spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  char b[96];
  std::snprintf(b, sizeof(b), "%.3fx [%.3f-%.3f] (n=%zu)", Median(v), v.front(),
                v.back(), v.size());
  return b;
}

struct W5Result {
  uint64_t logical = 0, stored_a = 0, stored_b = 0, zstd = 0;
  uint64_t borg = 0;
  std::vector<double> save_ratio, restore_ratio;
  std::vector<double> restore_off_s;  // restore of step 9, coding off
  // Decoding step 9's coded chunks alone, and copying all of its bytes
  // (seconds per pass, one thread); the decoded bytes.
  std::vector<double> decode_s, copy_s;
  uint64_t decoded_bytes = 0;
};

// The state's arrays (w, m, v of each layer), in that order.
std::vector<const std::vector<float>*> Arrays(const Model& model) {
  std::vector<const std::vector<float>*> out;
  for (int a = 0; a < model.arrays; ++a) {
    out.insert(out.end(), {&model.w[a], &model.m[a], &model.v[a]});
  }
  return out;
}

constexpr size_t kBenchChunk = 1 << 20;  // the store's default chunk size

// Would chunk `chunk` be stored as a Delta of `base` (the store's test)?
bool CodesAsDelta(absl::string_view chunk, absl::string_view base,
                  ckptdb::internal::CodedPlanes* out) {
  return ckptdb::internal::CodePlanesWithin(
      chunk, base, 4, ckptdb::internal::kDeltaMaxFraction, out);
}

// Follows the store's bases after a save of `now`: a chunk that no longer
// codes as a Delta of its base is stored whole and becomes the base.
void UpdateBases(const Model& now, Model* bases) {
  ckptdb::internal::CodedPlanes scratch;
  for (int a = 0; a < now.arrays; ++a) {
    const std::vector<float>* from[3] = {&now.w[a], &now.m[a], &now.v[a]};
    std::vector<float>* to[3] = {&bases->w[a], &bases->m[a], &bases->v[a]};
    for (int g = 0; g < 3; ++g) {
      const char* p = reinterpret_cast<const char*>(from[g]->data());
      char* b = reinterpret_cast<char*>(to[g]->data());
      const size_t bytes = from[g]->size() * sizeof(float);
      for (size_t off = 0; off + kBenchChunk <= bytes; off += kBenchChunk) {
        if (!CodesAsDelta(absl::string_view(p + off, kBenchChunk),
                          absl::string_view(b + off, kBenchChunk), &scratch)) {
          std::memcpy(b + off, p + off, kBenchChunk);
        }
      }
    }
  }
}

// Codes every 1 MiB chunk of `now` against the same chunk of `bases` (as
// UpdateBases left them: the store's bases) the way the store does, then
// times DecodePlanes of the chunks stored as deltas and a memcpy of all
// chunks, one thread, `passes` times each, into one warm buffer.
void MeasureDecode(const Model& now, const Model& base, int passes,
                   W5Result* r) {
  using namespace ckptdb::internal;  // NOLINT: the store's own coder
  constexpr size_t kChunk = kBenchChunk;
  struct Coded {
    CodedPlanes planes;
    const char* base;
  };
  std::vector<Coded> coded;
  std::vector<absl::string_view> chunks;
  const auto now_arrays = Arrays(now), base_arrays = Arrays(base);
  for (size_t i = 0; i < now_arrays.size(); ++i) {
    const char* p = reinterpret_cast<const char*>(now_arrays[i]->data());
    const char* b = reinterpret_cast<const char*>(base_arrays[i]->data());
    const size_t bytes = now_arrays[i]->size() * sizeof(float);
    for (size_t off = 0; off + kChunk <= bytes; off += kChunk) {
      const absl::string_view chunk(p + off, kChunk), bchunk(b + off, kChunk);
      chunks.push_back(chunk);
      Coded c{{}, b + off};
      if (CodesAsDelta(chunk, bchunk, &c.planes)) coded.push_back(std::move(c));
    }
  }
  std::vector<char> dest(kChunk);
  for (int pass = 0; pass <= passes; ++pass) {  // pass 0 warms up
    double t0 = Now();
    for (const Coded& c : coded) {
      PlanesView v;
      v.width = c.planes.width;
      v.transform = c.planes.transform;
      v.codecs = absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(c.planes.codecs.data()),
          c.planes.codecs.size());
      v.sizes = c.planes.sizes;
      v.data = c.planes.data;
      CheckOk(DecodePlanes(v, absl::string_view(c.base, kChunk), "bench",
                           dest.data(), kChunk),
              "decode");
    }
    const double t1 = Now();
    for (absl::string_view chunk : chunks) {
      std::memcpy(dest.data(), chunk.data(), chunk.size());
    }
    const double t2 = Now();
    if (pass == 0) continue;
    r->decode_s.push_back(t1 - t0);
    r->copy_s.push_back(t2 - t1);
  }
  r->decoded_bytes = coded.size() * kChunk;
}

// 32 arrays (4 with --quick) of each kind, about --gib in all, each a
// whole number of 1 MiB chunks.
Model MakeModel(const Config& cfg) {
  const int arrays = cfg.quick ? 4 : 32;
  const size_t n = static_cast<size_t>(cfg.gib * (1ull << 30) / 12 / arrays) &
                   ~size_t{0x3ffff};
  return Model(arrays, std::max<size_t>(n, 1 << 18));
}

// Saves `model` as `step` into A and B (A first when `a_first`); returns
// {A's time, B's time}.
std::pair<double, double> SavePair(ckptdb::CheckpointManager& a,
                                   ckptdb::CheckpointManager& b, int64_t step,
                                   Model& model, bool a_first) {
  double ta, tb;
  if (a_first) {
    ta = TimedSave(a, step, model);
    tb = TimedSave(b, step, model);
  } else {
    tb = TimedSave(b, step, model);
    ta = TimedSave(a, step, model);
  }
  return {ta, tb};
}

W5Result RunW5(const Config& cfg, const std::string& root) {
  Model model = MakeModel(cfg);
  for (int i = 0; i < cfg.warmup; ++i) model.Step(cfg.lr, cfg.noise);
  std::printf(
      "W5: %d x 3 float32 arrays of %zu elements (%s per step), lr %g, noise "
      "%g, %d warm-up steps\n",
      model.arrays, model.n, FormatBytes(model.Bytes()).c_str(), cfg.lr,
      cfg.noise, cfg.warmup);
  auto a = OpenManager(root + "/a", true);
  auto b = OpenManager(root + "/b", false);
  const std::string repo = root + "/borg", borg_dir = root + "/borg_in";
  if (cfg.borg) {
    SetBorgEnvironment(root + "/borg_home");
    MakeDirs(borg_dir);
    BorgInit(repo);
  }
  W5Result r;
  uint64_t borg_step0 = 0;
  std::optional<Model> bases;  // the bases of the store's deltas
  for (int step = 0; step < 10; ++step) {
    if (step > 0) model.Step(cfg.lr, cfg.noise);
    if (step == 0) bases = model;
    const auto [ta, tb] = SavePair(*a, *b, step, model, step % 2 == 0);
    if (cfg.borg) {
      BorgAddStep(repo, borg_dir, model, step);
      if (step == 0) borg_step0 = DuBytes(repo);
    }
    if (step == 0) continue;
    UpdateBases(model, &*bases);
    r.save_ratio.push_back(tb / ta);
    r.logical += model.Bytes();
    r.zstd += ZstdBytes(model);
    const uint64_t na = NewBytes(*a, step), nb = NewBytes(*b, step);
    r.stored_a += na;
    r.stored_b += nb;
    std::printf(
        "  step %d: stored %.3f of its bytes (delta off: %.3f); "
        "save speed on/off %.3fx\n",
        step, static_cast<double>(na) / model.Bytes(),
        static_cast<double>(nb) / model.Bytes(), tb / ta);
  }
  if (cfg.borg) r.borg = DuBytes(repo) - borg_step0;
  Target target(model);
  for (int p = 0; p < cfg.pairs + 1; ++p) {  // the first pair warms up
    double ta, tb;
    if (p % 2 == 0) {
      ta = TimedRestore(*a, 9, &target, model, "W5 restore (delta)");
      tb = TimedRestore(*b, 9, &target, model, "W5 restore (whole)");
    } else {
      tb = TimedRestore(*b, 9, &target, model, "W5 restore (whole)");
      ta = TimedRestore(*a, 9, &target, model, "W5 restore (delta)");
    }
    if (p > 0) r.restore_ratio.push_back(tb / ta);
    if (p > 0) r.restore_off_s.push_back(tb);
    std::printf("  restore pair %d: delta on %s, off %s\n", p,
                FormatSeconds(ta).c_str(), FormatSeconds(tb).c_str());
  }
  CheckOk(a->Close(), "close");
  CheckOk(b->Close(), "close");
  MeasureDecode(model, *bases, cfg.pairs, &r);
  return r;
}

struct RandomResult {
  std::vector<double> save_ratio, restore_ratio;
};

// Random finite float32 values (nothing to gain): fresh values every pair,
// saved into A and B in alternating order, then restored likewise.
RandomResult RunRandom(const Config& cfg, const std::string& root) {
  Model model = MakeModel(cfg);
  const int arrays = model.arrays;
  auto a = OpenManager(root + "/ra", true);
  auto b = OpenManager(root + "/rb", false);
  RandomResult r;
  Target target(model);
  for (int p = 0; p <= cfg.pairs; ++p) {  // the first pair warms up
    for (int arr = 0; arr < arrays; ++arr) {
      for (auto* vec : {&model.w[arr], &model.m[arr], &model.v[arr]}) {
        auto* bits = reinterpret_cast<uint32_t*>(vec->data());
        for (size_t i = 0; i < vec->size(); ++i) {
          bits[i] = static_cast<uint32_t>(
                        Mix(Model::Key(arr, i, 3 + p) + vec->size() * 7)) &
                    0xbf7fffffu;  // finite, both signs
        }
      }
    }
    const auto [ta, tb] = SavePair(*a, *b, p, model, p % 2 == 0);
    const double ra = TimedRestore(*a, p, &target, model, "random (on)");
    const double rb = TimedRestore(*b, p, &target, model, "random (off)");
    if (p == 0) continue;
    r.save_ratio.push_back(tb / ta);
    r.restore_ratio.push_back(rb / ra);
    if (NewBytes(*a, p) != NewBytes(*b, p)) {
      std::printf(
          "  note: random step %d stored %llu bytes with coding on, "
          "%llu off\n",
          p, static_cast<unsigned long long>(NewBytes(*a, p)),
          static_cast<unsigned long long>(NewBytes(*b, p)));
    }
  }
  CheckOk(a->Close(), "close");
  CheckOk(b->Close(), "close");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    if (arg == "--gib") {
      cfg.gib = std::atof(value().c_str());
    } else if (arg == "--pairs") {
      cfg.pairs = std::atoi(value().c_str());
    } else if (arg == "--noise") {
      cfg.noise = std::atof(value().c_str());
    } else if (arg == "--lr") {
      cfg.lr = std::atof(value().c_str());
    } else if (arg == "--warmup") {
      cfg.warmup = std::atoi(value().c_str());
    } else if (arg == "--dir") {
      cfg.dir = value();
    } else if (arg == "--no-borg") {
      cfg.borg = false;
    } else if (arg == "--quick") {
      cfg.quick = true;
      cfg.gib = 1.0 / 64;
      cfg.pairs = 1;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (cfg.gib <= 0 || cfg.pairs < 1 || cfg.lr <= 0 || cfg.noise < 0 ||
      cfg.warmup < 0) {
    std::fprintf(stderr,
                 "--gib, --pairs and --lr must be positive, --noise and "
                 "--warmup not negative\n");
    return 2;
  }
  if (cfg.borg && BorgVersion().empty()) {
    std::printf("borg is not installed: its figure is skipped\n");
    cfg.borg = false;
  }
  const std::string root = cfg.dir + "/delta-" + std::to_string(getpid());
  RemoveAll(root);
  MakeDirs(root);
  const W5Result r = RunW5(cfg, root);
  const RandomResult rnd = RunRandom(cfg, root);
  RemoveAll(root);
  const double stored = static_cast<double>(r.stored_a) / r.logical;
  std::printf("\nW5 steps 1..9: logical %s\n", FormatBytes(r.logical).c_str());
  std::printf(
      "  ckptdb, delta on : %s stored = %s of logical (target <= "
      "0.5x): %s\n",
      FormatBytes(r.stored_a).c_str(), Ratio(stored).c_str(),
      stored <= 0.5 ? "met" : "NOT MET");
  std::printf("  ckptdb, delta off: %s = %s\n", FormatBytes(r.stored_b).c_str(),
              Ratio(static_cast<double>(r.stored_b) / r.logical).c_str());
  std::printf("  zstd -3 of each step alone: %s = %s\n",
              FormatBytes(r.zstd).c_str(),
              Ratio(static_cast<double>(r.zstd) / r.logical).c_str());
  if (cfg.borg) {
    std::printf("  borg (zstd,3) repository growth: %s = %s\n",
                FormatBytes(r.borg).c_str(),
                Ratio(static_cast<double>(r.borg) / r.logical).c_str());
  }
  const double save = Median(r.save_ratio), restore = Median(r.restore_ratio);
  std::printf("  save speed, delta on / off  : %s (target >= 0.8x): %s\n",
              Spread(r.save_ratio).c_str(), save >= 0.8 ? "met" : "NOT MET");
  std::printf("  restore speed, on / off     : %s (target >= 0.7x): %s\n",
              Spread(r.restore_ratio).c_str(),
              restore >= 0.7 ? "met" : "NOT MET");
  const double decode = Median(r.decode_s), copy = Median(r.copy_s);
  std::printf(
      "  decode alone (DecodePlanes, 1 thread, warm buffer): %s of coded "
      "chunks in %s = %s; memcpy of all %s: %s\n",
      FormatBytes(r.decoded_bytes).c_str(), FormatSeconds(decode).c_str(),
      FormatRate(r.decoded_bytes / decode).c_str(),
      FormatBytes(r.logical / 9).c_str(),
      FormatRate(r.logical / 9 / copy).c_str());
  std::printf(
      "  restore bound from decoding alone, 2 threads: restore off %s / "
      "(decode / 2) = %s\n",
      FormatSeconds(Median(r.restore_off_s)).c_str(),
      Ratio(Median(r.restore_off_s) / (decode / 2)).c_str());
  std::printf("Random float32 (W1-like), coding on / off:\n");
  std::printf("  save speed   : %s (expected 1.0x within noise)\n",
              Spread(rnd.save_ratio).c_str());
  std::printf("  restore speed: %s (expected 1.0x within noise)\n",
              Spread(rnd.restore_ratio).c_str());
  std::printf("All restores returned exactly the saved bytes.\n");
  return 0;
}
