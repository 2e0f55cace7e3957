#include "common/ec_point.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/ssh_wire.h"

namespace keyfleet {
namespace {

// Immutable per-curve constants, built once. This is a read-only table, not shared mutable
// state: an EC_GROUP is safe to use from many threads once constructed.
struct CurveConstants {
  EC_GROUP* group = nullptr;
  size_t field_bytes = 0;
  uint32_t order_bits = 0;
  std::string order_minus_one;  // big-endian, left-padded to field_bytes
  bool cofactor_is_one = false;
};

CurveConstants MakeCurve(int nid) {
  CurveConstants c;
  c.group = EC_GROUP_new_by_curve_name(nid);
  if (c.group == nullptr) return c;
  c.field_bytes = static_cast<size_t>((EC_GROUP_get_degree(c.group) + 7) / 8);
  const BIGNUM* order = EC_GROUP_get0_order(c.group);
  c.order_bits = static_cast<uint32_t>(BN_num_bits(order));
  BIGNUM* tmp = BN_dup(order);
  BN_sub_word(tmp, 1);
  c.order_minus_one.resize(c.field_bytes);
  BN_bn2binpad(tmp, reinterpret_cast<unsigned char*>(c.order_minus_one.data()),
               static_cast<int>(c.field_bytes));
  BN_free(tmp);
  c.cofactor_is_one = BN_is_one(EC_GROUP_get0_cofactor(c.group));
  return c;
}

const CurveConstants& Curve(EcCurve curve) {
  static const std::array<CurveConstants, 3> curves = {
      MakeCurve(NID_X9_62_prime256v1), MakeCurve(NID_secp384r1), MakeCurve(NID_secp521r1)};
  return curves[static_cast<size_t>(curve) - static_cast<size_t>(EcCurve::kP256)];
}

struct PointDeleter {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};

}  // namespace

absl::Status ValidateEcPublicPoint(EcCurve curve, absl::string_view point) {
  if (curve == EcCurve::kNone) return absl::InternalError("no curve for an EC point");
  const CurveConstants& c = Curve(curve);
  if (c.group == nullptr) {
    return absl::InternalError(absl::StrCat("OpenSSL lacks curve ", EcCurveName(curve)));
  }
  const absl::string_view name = EcCurveName(curve);
  if (point.empty() || point[0] != 0x04) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " public point is not in uncompressed form"));
  }
  if (point.size() != 1 + 2 * c.field_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(name, " public point is ", point.size(),
                                                   " bytes, expected ", 1 + 2 * c.field_bytes));
  }
  const absl::string_view x = point.substr(1, c.field_bytes);
  const absl::string_view y = point.substr(1 + c.field_bytes);
  // OpenSSH: log2(x) > log2(order)/2, log2(y) > log2(order)/2, x < order-1, y < order-1.
  const uint32_t min_bits = c.order_bits / 2;
  if (BigEndianBitLength(x) <= min_bits || BigEndianBitLength(y) <= min_bits ||
      std::memcmp(x.data(), c.order_minus_one.data(), c.field_bytes) >= 0 ||
      std::memcmp(y.data(), c.order_minus_one.data(), c.field_bytes) >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " public point has coordinates outside the accepted range"));
  }
  std::unique_ptr<EC_POINT, PointDeleter> p(EC_POINT_new(c.group));
  if (!p) return absl::ResourceExhaustedError("out of memory");
  // EC_POINT_oct2point checks that the point lies on the curve.
  if (EC_POINT_oct2point(c.group, p.get(), reinterpret_cast<const unsigned char*>(point.data()),
                         point.size(), nullptr) != 1 ||
      EC_POINT_is_at_infinity(c.group, p.get())) {
    return absl::InvalidArgumentError(absl::StrCat(name, " public point is not on the curve"));
  }
  // OpenSSH also checks n*Q == infinity. On a curve of cofactor 1 (all NIST curves) every
  // point on the curve other than infinity has order n, so the check cannot fail and its
  // scalar multiplication is skipped; it is kept for any curve where that does not hold.
  if (!c.cofactor_is_one) {
    std::unique_ptr<EC_POINT, PointDeleter> nq(EC_POINT_new(c.group));
    if (!nq ||
        EC_POINT_mul(c.group, nq.get(), nullptr, p.get(), EC_GROUP_get0_order(c.group), nullptr) !=
            1 ||
        EC_POINT_is_at_infinity(c.group, nq.get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(name, " public point has the wrong order"));
    }
  }
  return absl::OkStatus();
}

}  // namespace keyfleet
