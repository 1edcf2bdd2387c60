// The parts of three.js the viewer uses, bundled by build.sh into one classic script that
// defines the global THREE (a classic script inlines into a file:// page with no module
// loading at all). Add an export here when viewer.js starts using another class.
export {
  AmbientLight, BufferGeometry, Color, CylinderGeometry, DirectionalLight, DynamicDrawUsage,
  Float32BufferAttribute, GridHelper, Group, InstancedMesh, Line, LineBasicMaterial, LineSegments,
  Matrix4, MeshLambertMaterial, PerspectiveCamera, Quaternion, Scene, SphereGeometry, Vector3,
  WebGLRenderer,
} from 'three';
export { OrbitControls } from 'three/addons/controls/OrbitControls.js';
