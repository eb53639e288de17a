using System.Numerics;

namespace Dfd.Detection;

/// <summary>
/// A detected face in image pixel coordinates. Landmarks follow YuNet's order, as seen in the image:
/// [0] eye on the image's left (the person's right eye), [1] eye on the image's right, [2] nose tip,
/// [3] mouth corner on the image's left, [4] mouth corner on the image's right.
/// </summary>
public sealed record Face(float X, float Y, float Width, float Height, float Score, Vector2[] Landmarks);
