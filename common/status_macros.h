// Early-return helpers for absl::Status / absl::StatusOr. Abseil does not ship public ones.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KF_CONCAT_INNER_(a, b) a##b
#define KF_CONCAT_(a, b) KF_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when not OK.
#define KF_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status kf_status_ = (expr);      \
    if (!kf_status_.ok()) return kf_status_; \
  } while (0)

// `lhs = value of expr` when expr (an absl::StatusOr) is OK; otherwise returns its status.
#define KF_ASSIGN_OR_RETURN(lhs, expr) \
  KF_ASSIGN_OR_RETURN_IMPL_(KF_CONCAT_(kf_statusor_, __LINE__), lhs, expr)
#define KF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
