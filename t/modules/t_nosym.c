/* t_nosym — a shared object that is not a sipchain module. */
int t_nosym_answer(void);
int t_nosym_answer(void) { return 42; }
