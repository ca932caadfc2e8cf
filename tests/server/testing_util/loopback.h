// Loopback sockets for the tests' small scripted HTTP servers.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_LOOPBACK_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace triverse::testing_util {

// BindLoopback returns a TCP socket bound to 127.0.0.1 on a free port,
// which it stores in `*port`; with backlog > 0 the socket also listens.
inline int BindLoopback(int backlog, int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  if (backlog > 0) {
    EXPECT_EQ(listen(fd, backlog), 0);
  }
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_LOOPBACK_H_
