#include "controller/service/outgoing_message.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/slice.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace keyfleet::controller {
namespace {

size_t MappedBytes(size_t len) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (len + page - 1) / page * page;
}

void Unmap(void* start, size_t len) {
  munmap(start, MappedBytes(len));
}

grpc::ByteBuffer SerializeWithGrpc(const google::protobuf::MessageLite& message) {
  grpc::ByteBuffer out;
  bool own_buffer = false;
  // Fails only past 2 GiB; desired states are refused past 4 MiB when they are made.
  (void)grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::MessageLite>(
      message, &out, &own_buffer);
  return out;
}

}  // namespace

grpc::ByteBuffer SerializeOutgoing(const google::protobuf::MessageLite& message) {
  const size_t len = message.ByteSizeLong();
  if (len < kOwnMappingMinBytes) return SerializeWithGrpc(message);
  void* start =
      mmap(nullptr, MappedBytes(len), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (start == MAP_FAILED) return SerializeWithGrpc(message);
  message.SerializeWithCachedSizesToArray(static_cast<uint8_t*>(start));
  grpc::Slice slice(start, len, &Unmap);  // gRPC calls Unmap when its last reference goes
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace keyfleet::controller
