// main() of test_headers: the test is that every generated header TU compiled and linked.
int main() { return 0; }
