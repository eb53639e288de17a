using static TorchSharp.torch;
var x = randn(2,3,8,8, requires_grad: true);
var w = randn(4,3,3,3);
var y = nn.functional.conv2d(x, w).sum();
y.backward();
Console.WriteLine($"ok {y.item<float>()} {x.grad!.shape[0]}");
