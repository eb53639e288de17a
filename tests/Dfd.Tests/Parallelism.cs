using Xunit;

// Test classes run one after another. libtorch has one random generator per process, so a class drawing random numbers
// between another's torch.manual_seed and its decoder's initialisation breaks the bit-for-bit resume and warm-start
// tests. And with classes in parallel one run of the suite failed a dlib-resnet forward with a libtorch error
// ("toFloat ... Expected false to be true") that a conv and a multiply should not raise, most likely another
// thread's. Each class already uses both cores through libtorch's own threads: serial, the suite took 1 m 27 s
// instead of about 1 m 05 s.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
